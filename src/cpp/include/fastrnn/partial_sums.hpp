// Sums of partial results added in a fixed order: chunked products (weight gradients, short
// deep matrix products) stay bit-identical for any thread count because every element adds
// its chunks' partials in chunk order, whichever thread computed them.
#pragma once

#include <cstdint>

namespace fastrnn {

// out[e - e0] = sum over c in [0, count), in order, of partial[c * per + e], for e in
// [e0, e1): `count` partial results of `per` elements each.
template <typename T>
inline void sum_in_order(const T* partial, int64_t count, int64_t per, int64_t e0, int64_t e1,
                         T* out) {
    for (int64_t e = e0; e < e1; ++e) {
        T sum = partial[e];
        for (int64_t c = 1; c < count; ++c) sum += partial[c * per + e];
        out[e - e0] = sum;
    }
}

}  // namespace fastrnn
