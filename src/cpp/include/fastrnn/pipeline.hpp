// Two-stage pipeline over numbered blocks: produce(i) may run on a helper thread ahead of
// consume(i), which always runs on the calling thread, in order.
#pragma once

#include <cstdint>
#include <type_traits>

namespace fastrnn {

namespace detail {
using BlockFn = void (*)(void* context, int64_t block);
void run_pipeline(int64_t blocks, bool use_helper, BlockFn produce, void* produce_context,
                  BlockFn consume, void* consume_context);
}  // namespace detail

// Blocks the helper thread has produced in this process (a testing hook: proves the threaded
// path ran).
int64_t helper_blocks_produced();

// Runs produce(i) then consume(i) for i = 0 .. blocks - 1, with consume(i) on the calling
// thread in increasing i. With use_helper, one persistent helper thread (shared by the
// process, used by one caller at a time) produces blocks ahead while the caller consumes; the
// caller produces the block it needs itself when the helper has not claimed it, so it never
// waits for the helper to wake up, only for a block the helper is producing. produce(i) must
// depend only on i (the same result whichever thread runs it), write nothing consume reads
// before block i is done, and not throw. The helper runs with flush-to-zero /
// denormals-are-zero set.
template <class Produce, class Consume>
void pipeline_blocks(int64_t blocks, bool use_helper, Produce&& produce, Consume&& consume) {
    using P = std::remove_reference_t<Produce>;
    using C = std::remove_reference_t<Consume>;
    detail::run_pipeline(
        blocks, use_helper, [](void* f, int64_t i) { (*static_cast<P*>(f))(i); },
        const_cast<void*>(static_cast<const void*>(&produce)),
        [](void* f, int64_t i) { (*static_cast<C*>(f))(i); },
        const_cast<void*>(static_cast<const void*>(&consume)));
}

}  // namespace fastrnn
