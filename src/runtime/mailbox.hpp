// mailbox: the operations on a process's inbox (the fields live in respawn::process).
//
// The inbox is a lock-free LIFO stack (Treiber stack, as in CAF): a sender pushes with one CAS.
// Two sentinel values make the stack also carry the process's run state, so no second atomic is
// needed to decide who schedules it:
//   blocked: the owner found no message and went waiting; the sender that replaces `blocked`
//            with its message must schedule the process (exactly one sender can);
//   closed:  the process has ended; pushes fail and the sender drops its message.
// The owner takes the whole stack with one exchange and reverses it into its FIFO cache, so
// messages from one sender are handled in the order sent (Erlang's ordering guarantee).
#pragma once

#include <atomic>
#include <cstdint>

#include "respawn/message.hpp"
#include "respawn/process.hpp"

namespace respawn::detail {

inline message* const inbox_blocked = reinterpret_cast<message*>(std::uintptr_t{1});
inline message* const inbox_closed = reinterpret_cast<message*>(std::uintptr_t{2});

enum class push_outcome { queued, woke, closed, full };

}  // namespace respawn::detail
