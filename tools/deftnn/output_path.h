// The CLI's name for the output check made before any work (embed, run,
// export): core/output_file.h's check_writable, which every writer shares.
#pragma once

#include "core/output_file.h"

using deftnn::check_writable;
