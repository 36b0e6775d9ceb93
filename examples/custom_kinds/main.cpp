// custom-kinds: a program with job kinds of its own, the example of docs/job-kinds.md. It adds
// two kinds to the built-in ones and hands over to respawn::main, so that this one binary is both
// a node and its own workers: `custom-kinds run greet --arg name=Ada` runs a greet task in a
// worker process started from this very file.
#include <cctype>
#include <cstddef>
#include <string>

#include <respawn/kinds.hpp>

namespace {

// greet {name}: returns {"greeting": "hello, NAME"}; name defaults to "world".
nlohmann::json greet(respawn::task_context& ctx) {
  std::string name = ctx.args().value("name", "world");
  return {{"greeting", "hello, " + name}};
}

// count_words {text}: counts the words of `text`, reporting the fraction read every 64 KiB and
// stopping early if the task is cancelled (its result is then ignored: the task is cancelled).
nlohmann::json count_words(respawn::task_context& ctx) {
  const std::string text = ctx.args().value("text", "");
  constexpr std::size_t report_every = 64 * 1024;
  std::size_t words = 0;
  bool in_word = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    bool letter = !std::isspace(static_cast<unsigned char>(text[i]));
    if (letter && !in_word) ++words;
    in_word = letter;
    if (i % report_every == report_every - 1) {
      if (ctx.cancelled()) return nullptr;
      ctx.progress(static_cast<double>(i + 1) / static_cast<double>(text.size()));
    }
  }
  ctx.progress(1.0);
  return {{"words", words}};
}

}  // namespace

int main(int argc, char** argv) {
  respawn::kind_registry kinds = respawn::builtin_kinds();
  kinds.add("greet", greet);
  kinds.add("count_words", count_words);
  return respawn::main(argc, argv, kinds);
}
