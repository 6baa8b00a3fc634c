/* BTI / PAC marking for nofork's aarch64 assembly; include once near the top
 * of each .S file (the aarch64 counterpart of asm/x86_64/cet.h).
 *
 * The linker marks an output BTI (and PAC) compatible only if every input
 * object says so in its GNU property note (the bits are ANDed), and the
 * dynamic loader maps a library's text as guarded pages (PROT_BTI) only when
 * it is marked: one .S without the note silently turns BTI off for all of
 * libnofork.so, libnofork-preload.so and every static program linking
 * libnofork.a. The note below makes that claim for the including file,
 * which must then keep it:
 * - BTI: every place reached by an indirect branch (BR, BLR) or entered by
 *   the kernel (a signal handler) starts with a landing pad: BTI_C where it
 *   is called (BLR, or the kernel's entry into a handler), BTI_J where it is
 *   jumped to (BR through the op table). Direct branches and RET need none.
 * - PAC: every function that stores its return address (x30) in memory
 *   signs it first and authenticates it after loading it back (the only
 *   one that does is ctx_switch; the child never spills x30).
 * Both instructions are in the HINT space: NOPs on CPUs without BTI or
 * PAC, so the same code runs everywhere (ARMv8.0 included). Checked with
 * `readelf -n` on the built objects and libraries (tests/bti_marked.sh). */
#ifndef NF_ASM_AARCH64_BTI_H
#define NF_ASM_AARCH64_BTI_H

#define BTI_C hint #34 /* bti c: target of a call (BLR) or a signal handler */
#define BTI_J hint #36 /* bti j: target of a jump (BR) */

	.pushsection .note.gnu.property, "a"
	.p2align 3
	.long	4		/* n_namesz: "GNU\0" */
	.long	16		/* n_descsz: one property, padded to 8 */
	.long	5		/* n_type: NT_GNU_PROPERTY_TYPE_0 */
	.asciz	"GNU"
	.long	0xc0000000	/* pr_type: GNU_PROPERTY_AARCH64_FEATURE_1_AND */
	.long	4		/* pr_datasz */
	.long	3		/* GNU_PROPERTY_AARCH64_FEATURE_1_BTI | _PAC */
	.p2align 3
	.popsection

#endif
