// Facts about the threading this build has.

#include "fastrnn/parallel.hpp"

namespace fastrnn {

bool openmp_enabled() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

}  // namespace fastrnn
