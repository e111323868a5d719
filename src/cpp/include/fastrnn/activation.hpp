// Activation functions understood by the kernels.
#pragma once

#include <string>

namespace fastrnn {

enum class Activation : int { Tanh = 0, Relu = 1, Sigmoid = 2, Linear = 3 };

// Parses "tanh", "relu", "sigmoid", "linear"; returns false for anything else.
inline bool parse_activation(const std::string& name, Activation& out) {
    if (name == "tanh") { out = Activation::Tanh; return true; }
    if (name == "relu") { out = Activation::Relu; return true; }
    if (name == "sigmoid") { out = Activation::Sigmoid; return true; }
    if (name == "linear") { out = Activation::Linear; return true; }
    return false;
}

}  // namespace fastrnn
