// respawn-bench-http: ../shared/bench/JOBS.md's noop and latency scenarios over HTTP, against a
// running `respawn serve` — the same figures the reference job systems in ../shared/peers/jobs/
// report, measured the same way from a client process on the same machine.
//
//   respawn-bench-http --server http://127.0.0.1:8080 --token T --scenario noop  [--n 20000] [--mode bulk|single]
//   respawn-bench-http --server ... --token T --scenario latency [--n 1000]
//
// noop/bulk: POST /v1/jobs/batch in chunks of 1,000 from one connection; noop/single: 16
// producers, each on its own keep-alive connection, one POST /v1/jobs at a time. The server runs
// jobs as they arrive (it has no paused mode), so process_per_s is N over first submission to
// last completion (= end to end). Completion is seen by polling "any job of mine not final?"
// (GET /v1/jobs?state=queued|running|failed&limit=1) every 5 ms — use a fresh user per run.
// latency: one job at a time, 5 ms apart: submit -> 201 (durable ack), and submit -> its
// `running` event on the job's event stream (SSE; the server polls the log for open streams, so
// this includes up to one poll interval). One JSON line per run on stdout.
//
// Why a separate binary: Boost.Beast stays in this one translation unit.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clk = std::chrono::steady_clock;

struct options {
  std::string host = "127.0.0.1";
  std::string port = "8080";
  std::string token;
  std::string scenario;
  std::string mode = "bulk";
  long n = 0;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "respawn-bench-http: %s\nusage: respawn-bench-http --server http://HOST:PORT --token T "
               "--scenario noop|latency [--n N] [--mode bulk|single]\n",
               why.c_str());
  std::exit(2);
}

// One keep-alive connection; blocking requests (the figure is the server's, the client is cheap).
class connection {
 public:
  connection(const options& o) : o_{o}, socket_{io_} {
    tcp::resolver resolver{io_};
    asio::connect(socket_, resolver.resolve(o.host, o.port));
    socket_.set_option(tcp::no_delay{true});
  }
  std::pair<unsigned, std::string> request(bhttp::verb verb, const std::string& target, std::string body = {}) {
    bhttp::request<bhttp::string_body> req{verb, target, 11};
    req.set(bhttp::field::host, o_.host);
    req.set(bhttp::field::authorization, "Bearer " + o_.token);
    if (!body.empty()) req.set(bhttp::field::content_type, "application/json");
    req.body() = std::move(body);
    req.prepare_payload();
    bhttp::write(socket_, req);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(256 * 1024 * 1024);
    bhttp::read(socket_, buffer_, parser);
    return {parser.get().result_int(), parser.get().body()};
  }
  // Opens the job's event stream and reads until an event named `name` arrives.
  void wait_event(std::uint64_t id, const std::string& name) {
    bhttp::request<bhttp::empty_body> req{bhttp::verb::get, "/v1/jobs/" + std::to_string(id) + "/events", 11};
    req.set(bhttp::field::host, o_.host);
    req.set(bhttp::field::authorization, "Bearer " + o_.token);
    tcp::socket s{io_};
    tcp::resolver resolver{io_};
    asio::connect(s, resolver.resolve(o_.host, o_.port));
    s.set_option(tcp::no_delay{true});
    bhttp::write(s, req);
    std::string seen;
    char chunk[4096];
    for (;;) {
      auto n = s.read_some(asio::buffer(chunk));
      seen.append(chunk, n);
      if (seen.find("event: " + name + "\n") != std::string::npos) return;
    }
  }

 private:
  const options& o_;
  asio::io_context io_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

double since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5))];
}

bool all_final(connection& c) {
  for (const char* state : {"queued", "running", "failed"}) {
    auto [status, body] = c.request(bhttp::verb::get, std::string{"/v1/jobs?limit=1&state="} + state);
    if (status != 200) throw std::runtime_error{"list: " + std::to_string(status) + " " + body};
    if (!nlohmann::json::parse(body)["jobs"].empty()) return false;
  }
  return true;
}

int run_noop(const options& o) {
  auto t0 = clk::now();
  if (o.mode == "bulk") {
    connection c{o};
    for (long done = 0; done < o.n;) {
      long k = std::min<long>(1000, o.n - done);
      nlohmann::json batch{{"jobs", nlohmann::json::array()}};
      for (long i = 0; i < k; ++i) batch["jobs"].push_back({{"kind", "noop"}});
      auto [status, body] = c.request(bhttp::verb::post, "/v1/jobs/batch", batch.dump());
      if (status != 201) {
        std::fprintf(stderr, "batch refused: %u %s\n", status, body.c_str());
        return 1;
      }
      done += k;
    }
  } else {
    constexpr int producers = 16;
    std::atomic<bool> failed{false};
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
      threads.emplace_back([&, p] {
        try {
          connection c{o};
          for (long i = p; i < o.n; i += producers) {
            auto [status, body] = c.request(bhttp::verb::post, "/v1/jobs", R"({"kind":"noop"})");
            if (status != 201) {
              std::fprintf(stderr, "submit refused: %u %s\n", status, body.c_str());
              failed = true;
              return;
            }
          }
        } catch (const std::exception& e) {
          std::fprintf(stderr, "producer: %s\n", e.what());
          failed = true;
        }
      });
    }
    for (auto& t : threads) t.join();
    if (failed) return 1;
  }
  double insert_s = since(t0);
  connection poll{o};
  while (!all_final(poll)) std::this_thread::sleep_for(std::chrono::milliseconds{5});
  double e2e = since(t0);
  nlohmann::json out{{"system", "respawn"},
                     {"transport", "http"},
                     {"scenario", "noop"},
                     {"n", o.n},
                     {"mode", o.mode},
                     {"durability", "acknowledged after fdatasync (SQLite WAL, synchronous=FULL); completion durable"},
                     {"insert_per_s", static_cast<double>(o.n) / insert_s},
                     {"process_per_s", static_cast<double>(o.n) / e2e},
                     {"e2e_s", e2e}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

int run_latency(const options& o) {
  connection c{o};
  std::vector<double> ack_ms, start_ms;
  for (long i = 0; i < o.n + 20; ++i) {
    auto t0 = clk::now();
    auto [status, body] = c.request(bhttp::verb::post, "/v1/jobs", R"({"kind":"noop"})");
    if (status != 201) {
      std::fprintf(stderr, "submit refused: %u %s\n", status, body.c_str());
      return 1;
    }
    double ack = since(t0) * 1000;
    c.wait_event(nlohmann::json::parse(body)["id"].get<std::uint64_t>(), "running");
    double started = since(t0) * 1000;
    if (i >= 20) {  // 20 warm-up jobs
      ack_ms.push_back(ack);
      start_ms.push_back(started);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{5});  // the scenario's spacing
  }
  nlohmann::json out{{"system", "respawn"},
                     {"transport", "http"},
                     {"scenario", "latency"},
                     {"n", o.n},
                     {"durability", "acknowledged after fdatasync (SQLite WAL, synchronous=FULL)"},
                     {"submit_ack_p50_ms", percentile(ack_ms, 0.5)},
                     {"submit_ack_p99_ms", percentile(ack_ms, 0.99)},
                     {"lat_p50_ms", percentile(start_ms, 0.5)},
                     {"lat_p90_ms", percentile(start_ms, 0.9)},
                     {"lat_p99_ms", percentile(start_ms, 0.99)},
                     {"lat_max_ms", percentile(start_ms, 1.0)}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  if (const char* t = std::getenv("RESPAWN_TOKEN")) o.token = t;
  std::string server = std::getenv("RESPAWN_SERVER") ? std::getenv("RESPAWN_SERVER") : "http://127.0.0.1:8080";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) usage(a + " needs a value");
    std::string v = argv[++i];
    if (a == "--server") server = v;
    else if (a == "--token") o.token = v;
    else if (a == "--scenario") o.scenario = v;
    else if (a == "--mode") o.mode = v;
    else if (a == "--n") o.n = std::atol(v.c_str());
    else usage("unknown option " + a);
  }
  if (server.rfind("http://", 0) != 0) usage("--server must be http://HOST:PORT");
  auto hostport = server.substr(7);
  if (auto slash = hostport.find('/'); slash != std::string::npos) hostport.resize(slash);
  auto colon = hostport.rfind(':');
  o.host = colon == std::string::npos ? hostport : hostport.substr(0, colon);
  o.port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  if (o.token.empty()) usage("a token is needed (--token or RESPAWN_TOKEN)");
  if (o.mode != "bulk" && o.mode != "single") usage("--mode bulk|single");
  if (o.n <= 0) o.n = o.scenario == "noop" ? 20000 : 1000;
  try {
    if (o.scenario == "noop") return run_noop(o);
    if (o.scenario == "latency") return run_latency(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "respawn-bench-http: %s\n", e.what());
    return 1;
  }
  usage("--scenario noop|latency");
}
