// Layer 1: the C binding over Debian's libpmem2 (pkg-config `libpmem2`).
// Only what Swift cannot call directly lives here.
#ifndef SWIFT_PMEM_CPMEM2_SHIMS_H
#define SWIFT_PMEM_CPMEM2_SHIMS_H

#include <libpmem2.h>

// pmem2_perror is variadic (printf-style); Swift cannot call it.
static inline void cpmem2_perror(const char *message) {
    pmem2_perror("%s", message);
}

#endif
