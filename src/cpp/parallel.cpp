// Facts about the threading this build has.

#include "fastrnn/parallel.hpp"

#include <atomic>

namespace fastrnn {

bool openmp_enabled() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

namespace {
std::atomic<double> g_min_work{262144.0};
}  // namespace

double min_work_per_thread() { return g_min_work.load(std::memory_order_relaxed); }
void set_min_work_per_thread(double work) { g_min_work.store(work > 1 ? work : 1); }

int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

}  // namespace fastrnn
