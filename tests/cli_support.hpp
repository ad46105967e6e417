// Support for tests of the `courier` command-line tool: the real binary
// (COURIER_CLI_PATH) run as a child process with pipes on its stdin, stdout and
// stderr, readers of the flat JSON lines it prints, and the check of command
// lines it must refuse.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#ifndef COURIER_CLI_PATH
#error "define COURIER_CLI_PATH as the path of the courier binary"
#endif

extern char** environ;

namespace courier::test::cli {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

inline constexpr auto patience = 10s;  // bound of every wait for another process

struct Output {
  int status = -1;  // exit status, or 128 + signal
  std::string out, err;
};

// The argv of `courier ARGS...` for posix_spawn: `storage` holds the strings,
// the result (ending in nullptr) points into it.
inline std::vector<char*> cli_argv(std::vector<std::string>& storage, const std::vector<std::string>& args) {
  storage = {COURIER_CLI_PATH};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

// A running `courier ARGS...` with pipes on stdin, stdout and stderr.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    static const bool sigpipe_ignored = [] { return ::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
    (void)sigpipe_ignored;
    int in[2], out[2], err[2];
    // O_CLOEXEC: a child gets only its own three ends (dup2 clears the flag on them).
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
      throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, err[1], STDERR_FILENO);
    std::vector<std::string> argv_s;
    std::vector<char*> argv = cli_argv(argv_s, args);
    const int rc = posix_spawn(&pid_, COURIER_CLI_PATH, &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    in_ = in[1];
    out_ = out[0];
    err_ = err[0];
    if (rc != 0) throw std::runtime_error(std::string("posix_spawn: ") + std::strerror(rc));
    ::fcntl(in_, F_SETFL, O_NONBLOCK);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    for (int fd : {in_, out_, err_})
      if (fd >= 0) ::close(fd);
  }

  pid_t pid() const { return pid_; }
  void signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);  // never kill(-1): a finished child has no pid
  }
  void close_stdout() { close_fd(out_); }

  // The next line of stdout (without '\n'), or nothing when stdout ended or
  // `patience` passed first.
  std::optional<std::string> read_line() {
    const auto deadline = Clock::now() + patience;
    for (;;) {
      if (auto nl = out_buf_.find('\n'); nl != std::string::npos) {
        std::string line = out_buf_.substr(0, nl);
        out_buf_.erase(0, nl + 1);
        return line;
      }
      if (out_ < 0 || Clock::now() >= deadline || !pump(deadline)) return std::nullopt;
    }
  }

  // Feed `input` to stdin and close it, read stdout and stderr to their end,
  // and reap the process.
  Output finish(std::string_view input = {}) {
    input_ = input;
    if (input_.empty()) close_fd(in_);
    const auto deadline = Clock::now() + patience;
    while ((out_ >= 0 || err_ >= 0) && pump(deadline)) {
    }
    Output o;
    int status = 0;
    if (out_ >= 0 || err_ >= 0) ::kill(pid_, SIGKILL);  // it outlived our patience
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    o.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    o.out = std::move(out_buf_);
    o.err = std::move(err_buf_);
    return o;
  }

 private:
  static void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }

  // One round of poll: write pending input, read what is there. False when
  // the deadline passed.
  bool pump(Clock::time_point deadline) {
    pollfd fds[3] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}, {input_.empty() ? -1 : in_, POLLOUT, 0}};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    const int n = ::poll(fds, 3, static_cast<int>(left));
    if (n < 0 && errno != EINTR) throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    if (n <= 0) return n < 0;
    if (fds[2].revents != 0) {
      const ssize_t w = ::write(in_, input_.data(), input_.size());
      if (w > 0) input_.remove_prefix(static_cast<std::size_t>(w));
      if (w < 0 && errno != EAGAIN) input_ = {};  // EPIPE: it stopped reading, as it may
      if (input_.empty()) close_fd(in_);
    }
    drain(fds[0], out_, out_buf_);
    drain(fds[1], err_, err_buf_);
    return true;
  }
  static void drain(const pollfd& p, int& fd, std::string& buf) {
    if (p.revents == 0) return;
    char chunk[65536];
    const ssize_t r = ::read(fd, chunk, sizeof chunk);
    if (r > 0)
      buf.append(chunk, static_cast<std::size_t>(r));
    else if (r == 0 || errno != EINTR)
      close_fd(fd);
  }

  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  std::string_view input_;
  std::string out_buf_, err_buf_;
};

// Run `courier ARGS...` to its end, with `input` on its stdin.
inline Output run(const std::vector<std::string>& args, std::string_view input = {}) {
  return Child(args).finish(input);
}

// The raw JSON text of `key`'s value in a flat object line: "\"text\"", "42", "null".
inline std::string json_field(const std::string& line, const std::string& key) {
  const std::string k = "\"" + key + "\":";
  const std::size_t at = line.find(k);
  if (at == std::string::npos) return "<absent>";
  std::size_t i = at + k.size(), end = i;
  if (line[i] == '"') {
    for (end = i + 1; end < line.size() && line[end] != '"'; ++end)
      if (line[end] == '\\') ++end;
    ++end;
  } else {
    end = line.find_first_of(",}]", i);
  }
  return line.substr(i, end - i);
}

inline std::uint64_t json_number(const std::string& line, const std::string& key) {
  return std::stoull(json_field(line, key));
}

// A message id, which the CLI prints as a JSON string ("id":"123"): its
// digits, or "<not a string: RAW>" so that a bare number fails the comparison.
inline std::string json_id(const std::string& line, const std::string& key = "id") {
  const std::string raw = json_field(line, key);
  if (raw.size() < 2 || raw.front() != '"' || raw.back() != '"') return "<not a string: " + raw + ">";
  return raw.substr(1, raw.size() - 2);
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

// A command line that must be refused as a bad one: exit status 2, one line on
// stderr that contains `said`, nothing on stdout.
struct UsageCase {
  std::vector<std::string> args;
  std::string said;
};

inline void expect_usage_errors(std::span<const UsageCase> cases) {
  for (const UsageCase& c : cases) {
    const Output o = run(c.args);
    std::string cmdline;
    for (const std::string& a : c.args) cmdline += " " + a;
    EXPECT_EQ(o.status, 2) << cmdline;
    EXPECT_NE(o.err.find(c.said), std::string::npos) << cmdline << "\n  stderr: " << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << cmdline << "\n  stderr: " << o.err;
    EXPECT_EQ(o.out, "") << cmdline;
  }
}

}  // namespace courier::test::cli
