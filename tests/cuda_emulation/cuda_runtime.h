// The emulator stands in for the CUDA runtime header (see emu.h).
#include "emu.h"
