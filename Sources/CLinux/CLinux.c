// Intentionally empty: CLinux is header-only (static inline shims), but SwiftPM wants a source file.
#include "CLinux.h"
