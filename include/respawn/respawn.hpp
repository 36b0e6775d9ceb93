// The whole public runtime API in one include.
#pragma once

#include "respawn/exit_reason.hpp"
#include "respawn/message.hpp"
#include "respawn/pid.hpp"
#include "respawn/process.hpp"
#include "respawn/result.hpp"
#include "respawn/runtime.hpp"
#include "respawn/supervisor.hpp"
