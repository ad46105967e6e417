// Kept only because src/bus.cpp includes it: include its parts instead
// (detail/spill.hpp and spill_forwarder.hpp) and delete this file.
#pragma once

#include "courier/detail/spill.hpp"
#include "spill_forwarder.hpp"
