// watch: follows a job's event stream (GET /v1/jobs/ID/events, Server-Sent Events) to its end,
// showing each event as it arrives (the stream is fed to the parser read by read). A dropped
// connection, or one silent past the keep-alives (http_timeouts::stream_idle), is resumed with
// Last-Event-ID after a backoff, so no event is missed; a 401 ends it (a revoked token). An
// event whose id the client has already seen is skipped, so none is shown twice even if a server
// resends. A stream that ends cleanly without a final event is checked against GET /v1/jobs/ID.
#pragma once

#include <cstdint>
#include <string>

#include "api_client.hpp"

namespace respawn::client {

// Returns the exit code: 0 succeeded, job_dead, job_cancelled, or why it could not follow.
int follow_events(api_client& api, std::int64_t job_id);

// True when `id` comes at or before `last` (both decimal numbers and id <= last, or equal).
bool already_seen(const std::string& id, const std::string& last);

}  // namespace respawn::client
