// Thin OpenMP layer: a parallel region that also sets flush-to-zero / denormals-are-zero.
#pragma once

#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define FASTRNN_HAVE_MXCSR 1
#endif

namespace fastrnn {

// Sets FTZ and DAZ for the current thread and restores the caller's setting on exit: long
// backpropagation through time produces subnormals, which are many times slower.
class DenormalsFlushed {
public:
    DenormalsFlushed() {
#ifdef FASTRNN_HAVE_MXCSR
        saved_ = _mm_getcsr();
        _mm_setcsr(saved_ | 0x8040u);
#endif
    }
    ~DenormalsFlushed() {
#ifdef FASTRNN_HAVE_MXCSR
        _mm_setcsr(saved_);
#endif
    }
    DenormalsFlushed(const DenormalsFlushed&) = delete;
    DenormalsFlushed& operator=(const DenormalsFlushed&) = delete;

private:
    unsigned saved_ = 0;
};

// Records that OpenMP threads start working now: the pipeline's helper thread (pipeline.hpp)
// stops polling for work while they do, so the two never compete for the cores.
void note_parallel_region();

// Runs body(thread_id, thread_count) on up to `threads` threads (one when OpenMP is off).
// The body must not throw.
template <class Body>
void parallel_region(int threads, Body&& body) {
#ifdef _OPENMP
    if (threads > 1) {
        note_parallel_region();
#pragma omp parallel num_threads(threads)
        {
            DenormalsFlushed guard;
            body(omp_get_thread_num(), omp_get_num_threads());
        }
        return;
    }
#endif
    DenormalsFlushed guard;
    body(0, 1);
}

// Barrier among the threads of the enclosing parallel_region (no-op without OpenMP).
inline void thread_barrier() {
#ifdef _OPENMP
#pragma omp barrier
#endif
}

// [begin, end) of `count` items for thread `tid` of `nthreads`, in whole blocks of `block`.
inline void split_range(int64_t count, int64_t block, int tid, int nthreads, int64_t& begin,
                        int64_t& end) {
    const int64_t blocks = (count + block - 1) / block;
    const int64_t per = blocks / nthreads, extra = blocks % nthreads;
    const int64_t b0 = tid * per + (tid < extra ? tid : extra);
    const int64_t b1 = b0 + per + (tid < extra ? 1 : 0);
    begin = b0 * block < count ? b0 * block : count;
    end = b1 * block < count ? b1 * block : count;
}

bool openmp_enabled();
int max_threads();

// Smallest amount of work (multiply-adds) worth a thread of its own; tests lower it to run
// the threaded paths on small problems.
double min_work_per_thread();
void set_min_work_per_thread(double work);

// Threads worth starting for `work` multiply-adds, at most `requested`: below
// min_work_per_thread() per thread, starting and joining a parallel region (and, on a busy
// machine, waiting for descheduled threads) costs more than it saves.
inline int threads_for_work(int requested, double work) {
    const double useful = work / min_work_per_thread();
    return useful < 1 ? 1 : (useful < requested ? static_cast<int>(useful) : requested);
}

}  // namespace fastrnn
