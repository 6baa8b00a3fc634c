/* CET marking for nofork's x86_64 assembly; include once near the top of
 * each .S file.
 *
 * The linker marks an output IBT / SHSTK compatible only if every input
 * object says so in its GNU property note (the bits are ANDed), so one .S
 * without the note silently unmarks libnofork.so, libnofork-preload.so and
 * every static program linking libnofork.a. The note below makes that
 * claim for the including file, which must then keep it:
 * - IBT: every place reached by an indirect call or jump, or entered by the
 *   kernel (a signal handler), starts with ENTRY_BRANCH; an indirect jump
 *   whose targets cannot start with it carries the `notrack` prefix.
 * - SHSTK: every `ret` returns to the address its own `call` pushed.
 */
#ifndef NF_ASM_X86_64_CET_H
#define NF_ASM_X86_64_CET_H

/* Start of an indirect-branch target: with IBT enforced, the CPU faults
 * on any other instruction there. A NOP on CPUs without CET. */
#define ENTRY_BRANCH endbr64

	.pushsection .note.gnu.property, "a"
	.p2align 3
	.long	4		/* n_namesz: "GNU\0" */
	.long	16		/* n_descsz: one property, padded to 8 */
	.long	5		/* n_type: NT_GNU_PROPERTY_TYPE_0 */
	.asciz	"GNU"
	.long	0xc0000002	/* pr_type: GNU_PROPERTY_X86_FEATURE_1_AND */
	.long	4		/* pr_datasz */
	.long	3		/* GNU_PROPERTY_X86_FEATURE_1_IBT | _SHSTK */
	.p2align 3
	.popsection

#endif
