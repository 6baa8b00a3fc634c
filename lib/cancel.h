/* The guard of every public call that is not a cancellation point (lib/
 * and lib/rt/). */
#ifndef NF_CANCEL_H
#define NF_CANCEL_H

#include "rt/rt.h"

#include <pthread.h>

/* Cancellation (nofork.h says which calls are cancellation points). A public
 * call that is not one starts with NF_NOCANCEL: cancellation stays disabled
 * until it returns, so neither a cancellation point inside libc (waitid,
 * close, pthread_join, write) nor an asynchronous cancel can end it halfway,
 * with a child, an fd or a lock left behind. A cancel that arrived meanwhile
 * stays pending for the caller's next cancellation point (or, asynchronous,
 * acts as the call returns). In a coroutine the state is left alone: it is
 * the worker thread's, the coroutine may resume on another worker after a
 * park, and coroutines cannot be cancelled. */
static inline int cancel_off(void)
{
	int old = -1;
	if (!rt_in_coroutine())
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	return old;
}

static inline void cancel_restore(const int *old)
{
	if (*old >= 0)
		pthread_setcancelstate(*old, NULL);
}

/* unused: clang warns of a variable that only its cleanup reads. */
#define NF_NOCANCEL const int cancel_old_ __attribute__((cleanup(cancel_restore), unused)) = cancel_off()

#endif
