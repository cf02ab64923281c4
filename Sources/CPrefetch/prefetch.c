/* CPrefetch is header-only (static inline); SwiftPM wants one source file. */
#include "tcpeek_prefetch.h"
