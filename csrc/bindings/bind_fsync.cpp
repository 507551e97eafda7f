// FsyncThread: the journal's group commit, fsync-ed on a native thread.
//
// A Python thread cannot do this job: before it could even call fsync it would wait for the
// GIL, which the writer hands over only after the interpreter's switch interval (5 ms), longer
// than a group of commands takes. This thread never touches Python objects and so never needs
// the GIL; the writer only takes a mutex to hand it a request.
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>

#include "common.hpp"

namespace perpex::bindings {
namespace {

class FsyncThread {
 public:
  explicit FsyncThread(int fd) : fd_(fd), owner_(::getpid()), worker_([this] { run(); }) {}
  FsyncThread(const FsyncThread&) = delete;
  FsyncThread& operator=(const FsyncThread&) = delete;
  // Holding the GIL while joining cannot deadlock (the thread never takes it) and is safe at
  // interpreter shutdown, where releasing it is not.
  ~FsyncThread() { stop(false); }

  // Starts an fsync of the descriptor covering records up to `seq`; one at a time.
  void start(std::uint64_t seq) {
    check_owner();
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) throw py::value_error("FsyncThread is closed");
    if (pending_) throw py::value_error("an fsync is already in flight: wait() first");
    pending_ = true;
    requested_ = seq;
    wake_.notify_one();
  }

  // True when no fsync is in flight.
  bool idle() {
    std::lock_guard<std::mutex> lock(mu_);
    return !pending_;
  }

  // Waits (without the GIL) until no fsync is in flight; returns the seq of the last one that
  // completed and its errno (0: success).
  std::pair<std::uint64_t, int> wait() {
    check_owner();
    py::gil_scoped_release nogil;
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return !pending_; });
    return {completed_, error_};
  }

  // Finishes the fsync in flight, if any, and joins the thread; idempotent.
  void stop(bool release_gil) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      stopped_ = true;
      wake_.notify_one();
    }
    // a forked child has the object but not the thread: nothing to join there
    if (::getpid() == owner_ && worker_.joinable()) {
      if (release_gil) {
        py::gil_scoped_release nogil;
        worker_.join();
      } else {
        worker_.join();
      }
    } else if (worker_.joinable()) {
      worker_.detach();
    }
  }

 private:
  void check_owner() const {
    if (::getpid() != owner_) throw py::value_error("FsyncThread belongs to the process that created it");
  }

  void run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      wake_.wait(lock, [this] { return pending_ || stopped_; });
      if (!pending_) return;  // stopped with nothing to do
      const std::uint64_t seq = requested_;
      lock.unlock();
      const int err = ::fsync(fd_) == 0 ? 0 : errno;
      lock.lock();
      completed_ = seq;
      error_ = err;
      pending_ = false;
      done_.notify_all();
    }
  }

  const int fd_;
  const pid_t owner_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  bool pending_ = false, stopped_ = false;
  std::uint64_t requested_ = 0, completed_ = 0;
  int error_ = 0;
  std::thread worker_;  // last: it starts running in the constructor, after the fields above
};

}  // namespace

void bind_fsync(py::module_& m) {
  py::class_<FsyncThread>(m, "FsyncThread",
                          "Background fsync of one file descriptor, on a native thread that never takes the GIL.")
      .def(py::init<int>(), py::arg("fd"))
      .def("start", &FsyncThread::start, py::arg("seq"),
           "Starts an fsync covering records up to seq; raises ValueError if one is in flight.")
      .def("idle", &FsyncThread::idle, "True when no fsync is in flight.")
      .def("wait", &FsyncThread::wait,
           "Waits, releasing the GIL, until no fsync is in flight; returns (seq, errno) of the last "
           "completed one (errno 0: success).")
      .def("close", [](FsyncThread& t) { t.stop(true); }, "Finishes the fsync in flight and joins the thread.");
}

}  // namespace perpex::bindings
