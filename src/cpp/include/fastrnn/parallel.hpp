// Thin OpenMP layer: a parallel region that also sets flush-to-zero / denormals-are-zero.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define FASTRNN_HAVE_MXCSR 1
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
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

// A spin-wait's pause.
inline void cpu_relax() {
#if defined(__SSE2__)
    _mm_pause();
#endif
}

// One pause of a spin-wait, `polls` counting the pauses so far: the CPU's pause instruction,
// then, after 4096 of them, a yield (the thread waited for may need this CPU).
inline void spin_pause(int& polls) {
    if (polls < 4096) {
        ++polls;
        cpu_relax();
    } else {
        std::this_thread::yield();
    }
}

// Independent chains of blocks (a recurrence over groups of samples: block k + 1 of a chain
// needs its block k, chains need nothing of each other), split between the threads of a
// parallel_region at run time: a free thread takes the next block of the chain furthest
// behind that no thread holds. A thread waits only when every unfinished chain is held, so a
// slow or descheduled thread delays only the chain it holds.
class BlockChains {
public:
    BlockChains(int64_t chains, int64_t blocks)
        : blocks_(blocks), state_(static_cast<size_t>(chains)) {}
    BlockChains(const BlockChains&) = delete;
    BlockChains& operator=(const BlockChains&) = delete;

    enum class Claim { kBlock, kBusy, kFinished };

    // Claims a block without waiting: kBlock with its chain and index (the writes of the
    // chain's blocks before it are visible), kBusy when every unfinished chain is held,
    // kFinished when every chain is finished.
    Claim try_next(int64_t& chain, int64_t& block) {
        for (;;) {
            int64_t best = -1, best_state = 0;
            bool unfinished = false;
            for (size_t c = 0; c < state_.size(); ++c) {
                const int64_t v = state_[c].value.load(std::memory_order_acquire);
                if ((v >> 1) >= blocks_) continue;
                unfinished = true;
                if ((v & 1) == 0 && (best < 0 || v < best_state)) {
                    best = static_cast<int64_t>(c);
                    best_state = v;
                }
            }
            if (!unfinished) return Claim::kFinished;
            if (best < 0) return Claim::kBusy;
            if (state_[static_cast<size_t>(best)].value.compare_exchange_strong(
                    best_state, best_state | 1, std::memory_order_acq_rel)) {
                chain = best;
                block = best_state >> 1;
                return Claim::kBlock;
            }
        }
    }

    // Claims a block, waiting while every unfinished chain is held: true with its chain and
    // index, false when every chain is finished.
    bool next(int64_t& chain, int64_t& block) {
        for (int polls = 0;;) {
            const Claim c = try_next(chain, block);
            if (c != Claim::kBusy) return c == Claim::kBlock;
            spin_pause(polls);
        }
    }

    // Releases `chain` after its block `block` is done.
    void finish(int64_t chain, int64_t block) {
        state_[static_cast<size_t>(chain)].value.store(2 * (block + 1), std::memory_order_release);
    }

private:
    struct alignas(64) State {
        std::atomic<int64_t> value{0};  // 2 * (blocks done) + (1 while a thread holds it)
    };
    int64_t blocks_;
    std::vector<State> state_;
};

// Boundaries (in tiles of rows; first 0, last `tiles`) of the groups of samples that the
// threads of a BlockChains take at run time: one large group per thread of about 3/4 of its
// equal share, the rest in one smaller group per thread, which a faster thread takes more
// of. Groups stay large because a group's steps hide each other's latency only with many row
// tiles (H = 32, one thread: 6 rows cost 1.5x per row of 128 rows, 18 rows 1.08x, 36 rows
// 1.04x).
inline std::vector<int64_t> group_bounds(int64_t tiles, int threads) {
    threads = std::max(threads, 1);
    std::vector<int64_t> bounds{0};
    const int64_t big = threads == 1 ? tiles : (3 * tiles) / (4 * threads);
    for (int i = 0; i < threads && big > 0 && bounds.back() < tiles; ++i)
        bounds.push_back(bounds.back() + big);
    const int64_t small = std::max<int64_t>(1, (tiles - bounds.back() + threads - 1) / threads);
    while (bounds.back() < tiles) bounds.push_back(std::min(tiles, bounds.back() + small));
    return bounds;
}

// Units [0, count) handed out to the threads of a parallel_region in runs of decreasing size
// (guided self-scheduling: about remaining / (2 * threads) units a run, at least one; all of
// them to a lone thread), for loops without a step dependency (see BlockChains for those with
// one). A static split waits for the slowest core: on a shared machine one core ran the same
// single-thread work up to 1.9x slower than the other, on and off within seconds. Callers
// whose result depends only on the unit, never on the thread that computes it, stay
// bit-identical for any thread count. Not for many tiny units: its last runs are one unit
// each (ops.matmul's 10000-row table products over 6-row tiles were ~1% slower).
class WorkQueue {
public:
    WorkQueue(int64_t count, int threads) : count_(count), threads_(threads < 1 ? 1 : threads) {}
    WorkQueue(const WorkQueue&) = delete;
    WorkQueue& operator=(const WorkQueue&) = delete;

    // Claims the next run: true with units [begin, end), false when none is left.
    bool next(int64_t& begin, int64_t& end) {
        int64_t cur = next_.load(std::memory_order_relaxed);
        while (cur < count_) {
            const int64_t n = threads_ == 1 ? count_ - cur
                                            : std::max<int64_t>(1, (count_ - cur) / (2 * threads_));
            if (next_.compare_exchange_weak(cur, cur + n, std::memory_order_relaxed)) {
                begin = cur;
                end = cur + n;
                return true;
            }
        }
        return false;
    }

    // The most units one run can hold.
    int64_t largest_run() const {
        return threads_ == 1 ? count_ : std::max<int64_t>(1, count_ / (2 * threads_));
    }

private:
    alignas(64) std::atomic<int64_t> next_{0};  // a line of its own: every claim writes it
    int64_t count_;
    int threads_;
};

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
