// Layer 1: the C binding over Debian's libpmem2 (pkg-config `libpmem2`).
// Swift calls libpmem2 directly; a static inline shim belongs here only for
// what it cannot call (variadics such as pmem2_perror, which the library does
// not need: errors are reported through PMemError with pmem2_errormsg()).
#ifndef SWIFT_PMEM_CPMEM2_SHIMS_H
#define SWIFT_PMEM_CPMEM2_SHIMS_H

#include <libpmem2.h>

#endif
