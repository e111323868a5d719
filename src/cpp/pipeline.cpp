// The helper thread behind pipeline_blocks.
//
// Blocks are claimed through one 64-bit word, (job generation : 24 | blocks : 20 | next : 20),
// by compare-and-swap, so a claim is valid only for the job it was read from: the helper,
// however late it wakes, can never claim a block of a finished job or of one not yet
// published. A successful claim of block c < blocks also means the job is live (its caller
// cannot finish before block c is done), so the job's description is read after the claim.

#include "fastrnn/pipeline.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>

#ifdef _WIN32
#include <process.h>
#else
#include <unistd.h>
#endif

#include "fastrnn/parallel.hpp"

namespace fastrnn {
namespace detail {
namespace {

constexpr int kFieldBits = 20;  // of `blocks` and of `next` each
constexpr uint64_t kFieldMask = (uint64_t{1} << kFieldBits) - 1;
constexpr int64_t kMaxBlocks = int64_t{1} << kFieldBits;
// How long the helper keeps polling for the next job before it sleeps: calls in a loop (a
// prediction loop) find it awake. A sleeping helper sits the next call out (a wake-up costs
// that call more than the helper saves it) and is woken at its end.
constexpr auto kSpinTime = std::chrono::microseconds(200);
// A block takes the helper about a microsecond; a caller still waiting after this many polls
// yields its CPU, which a helper woken onto the same CPU needs.
constexpr int kPollsBeforeYield = 64;

inline int64_t process_id() {
#ifdef _WIN32
    return _getpid();
#else
    return getpid();
#endif
}

std::atomic<int64_t> g_helper_blocks{0};  // helper_blocks_produced()

// steady_clock time (ns) at which the last multi-thread parallel_region started.
std::atomic<int64_t> g_last_region_ns{std::numeric_limits<int64_t>::min() / 2};

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// No OpenMP region has started for kSpinTime: the helper may poll without taking a core
// from OpenMP threads (a training loop alternates the helper's forward with the backward's
// regions; polling through them made a batch-of-one training step 1.6x slower).
bool openmp_quiet() {
    return now_ns() - g_last_region_ns.load(std::memory_order_relaxed) >=
           std::chrono::duration_cast<std::chrono::nanoseconds>(kSpinTime).count();
}

inline uint64_t next_of(uint64_t word) { return word & kFieldMask; }
inline uint64_t blocks_of(uint64_t word) { return (word >> kFieldBits) & kFieldMask; }
inline uint64_t generation_of(uint64_t word) { return word >> (2 * kFieldBits); }
inline bool claimable(uint64_t word) { return next_of(word) < blocks_of(word); }

struct Job {
    BlockFn produce;
    void* context;
    std::atomic<uint8_t>* done;  // (blocks,) set once a block is produced
};

class Helper {
public:
    Helper() : owner_(process_id()) { std::thread([this] { serve(); }).detach(); }

    int64_t owner() const { return owner_; }

    // Claims the next block of the current job; -1 when none is left.
    int64_t claim() {
        uint64_t word = claim_.load(std::memory_order_acquire);
        while (claimable(word))
            if (claim_.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel))
                return static_cast<int64_t>(next_of(word));
        return -1;
    }

    // Claims block i if it is the next unclaimed one (the caller's claim: it produces only the
    // block it waits for, never one ahead that the helper would reach first).
    bool claim_block(int64_t i) {
        uint64_t word = claim_.load(std::memory_order_acquire);
        while (claimable(word) && next_of(word) == static_cast<uint64_t>(i))
            if (claim_.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel))
                return true;
        return false;
    }

    // Publishes a job; false when another caller holds the helper or it sleeps (a call never
    // waits for, nor pays, a wake-up: a call that finds it asleep wakes it at its end).
    bool start(const Job* job, int64_t blocks) {
        if (sleeping_.load() || busy_.exchange(true, std::memory_order_acquire)) return false;
        job_.store(job, std::memory_order_release);
        const uint64_t generation = generation_of(claim_.load(std::memory_order_relaxed)) + 1;
        claim_.store((generation << (2 * kFieldBits)) |
                     (static_cast<uint64_t>(blocks) << kFieldBits));
        return true;
    }

    // The caller has consumed every block: every claimed block is done, the job is over.
    void finish() { busy_.store(false, std::memory_order_release); }

    // Wakes a sleeping helper: it polls for the next job for kSpinTime.
    void wake() {
        if (!sleeping_.load(std::memory_order_relaxed)) return;
        std::lock_guard<std::mutex> lock(mutex_);
        awake_ = true;
        wake_.notify_one();
    }

private:
    void serve() {
        DenormalsFlushed guard;  // for the thread's whole life
        auto idle_since = std::chrono::steady_clock::now();
        for (unsigned polls = 1;; ++polls) {
            const int64_t c = claim();
            if (c >= 0) {
                const Job* job = job_.load(std::memory_order_acquire);
                job->produce(job->context, c);
                job->done[c].store(1, std::memory_order_release);
                g_helper_blocks.fetch_add(1, std::memory_order_relaxed);
                idle_since = std::chrono::steady_clock::now();
                continue;
            }
            cpu_relax();
            if (polls % 64 ||  // the clock only every 64 polls (unsigned: wraps harmlessly)
                (std::chrono::steady_clock::now() - idle_since < kSpinTime && openmp_quiet()))
                continue;
            std::unique_lock<std::mutex> lock(mutex_);
            sleeping_.store(true);
            wake_.wait(lock, [this] { return awake_; });
            awake_ = false;
            sleeping_.store(false);
            idle_since = std::chrono::steady_clock::now();
        }
    }

    const int64_t owner_;
    std::atomic<uint64_t> claim_{0};
    std::atomic<const Job*> job_{nullptr};
    std::atomic<bool> busy_{false};
    std::atomic<bool> sleeping_{false};
    bool awake_ = false;  // under mutex_: wake() was called
    std::mutex mutex_;
    std::condition_variable wake_;
};

// The process's helper, started on first use; nullptr when no thread can be started. Never
// destroyed (its detached thread may still poll it at exit); a forked child, which has no
// copy of the thread, starts its own.
Helper* process_helper() {
    static std::mutex creating;
    static std::atomic<Helper*> helper{nullptr};
    Helper* h = helper.load(std::memory_order_acquire);
    if (h && h->owner() == process_id()) return h;
    std::lock_guard<std::mutex> lock(creating);
    h = helper.load(std::memory_order_relaxed);
    if (!h || h->owner() != process_id()) {
        try {
            h = new Helper();
        } catch (...) {  // std::system_error: the caller then works alone
            return nullptr;
        }
        helper.store(h, std::memory_order_release);
    }
    return h;
}

void run_alone(int64_t blocks, BlockFn produce, void* produce_context, BlockFn consume,
               void* consume_context) {
    for (int64_t i = 0; i < blocks; ++i) {
        produce(produce_context, i);
        consume(consume_context, i);
    }
}

}  // namespace

void run_pipeline(int64_t blocks, bool use_helper, BlockFn produce, void* produce_context,
                  BlockFn consume, void* consume_context) {
    Helper* helper = use_helper && blocks > 1 && blocks < kMaxBlocks ? process_helper() : nullptr;
    if (!helper) {
        run_alone(blocks, produce, produce_context, consume, consume_context);
        return;
    }
    const auto n = static_cast<size_t>(blocks);
    std::unique_ptr<std::atomic<uint8_t>[]> done(new std::atomic<uint8_t>[n]);
    for (int64_t i = 0; i < blocks; ++i) done[i].store(0, std::memory_order_relaxed);
    const Job job{produce, produce_context, done.get()};
    if (!helper->start(&job, blocks)) {
        run_alone(blocks, produce, produce_context, consume, consume_context);
        if (openmp_quiet()) helper->wake();
        return;
    }
    for (int64_t i = 0; i < blocks; ++i) {
        int polls = 0;
        while (!done[i].load(std::memory_order_acquire)) {
            if (helper->claim_block(i)) {
                produce(produce_context, i);
                done[i].store(1, std::memory_order_release);
            } else if (polls < kPollsBeforeYield) {
                ++polls;
                cpu_relax();  // block i is being produced by the helper
            } else {
                std::this_thread::yield();  // the helper may be waiting for this CPU
            }
        }
        consume(consume_context, i);
    }
    helper->finish();
}

}  // namespace detail

int64_t helper_blocks_produced() {
    return detail::g_helper_blocks.load(std::memory_order_relaxed);
}

void note_parallel_region() {
    detail::g_last_region_ns.store(detail::now_ns(), std::memory_order_relaxed);
}

}  // namespace fastrnn
