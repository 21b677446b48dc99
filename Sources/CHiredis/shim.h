// CHiredis: Redis's C client, hiredis 0.14 (Debian: libhiredis-dev), async API.
#ifndef CHIREDIS_SHIM_H
#define CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#endif
