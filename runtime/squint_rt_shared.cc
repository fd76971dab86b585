// The shared runtime library (libsquint_runtime.so, cmake/SquintInstall.cmake) is the static
// archive linked whole, exporting the C API only (squint_rt.map). This translation unit is its
// one own source, as CMake wants one: it checks that the C API header stands alone.
#include "runtime/squint_rt.h"
