// A mutex that clang's thread-safety analysis understands, and the annotations that name what
// it guards. libstdc++'s std::mutex carries no annotations, so `GUARDED_BY` written as a comment
// was all the project had; with these, a clang build (-Wthread-safety, scripts/thread_safety.sh
// in CI) rejects an access to a guarded member without its lock. GCC ignores the attributes.
// Public because FeatureStore (feature_store.h) holds one; the engine, the server and the tools
// use the same type.
// Thread-safety: Mutex is a std::mutex; MutexLock belongs to the thread that made it.
#pragma once

#include <mutex>

#if defined(__clang__)
#define LARDER_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define LARDER_THREAD_ANNOTATION(x)
#endif

#define LARDER_CAPABILITY(name) LARDER_THREAD_ANNOTATION(capability(name))
#define LARDER_SCOPED_CAPABILITY LARDER_THREAD_ANNOTATION(scoped_lockable)
#define LARDER_GUARDED_BY(mu) LARDER_THREAD_ANNOTATION(guarded_by(mu))
#define LARDER_PT_GUARDED_BY(mu) LARDER_THREAD_ANNOTATION(pt_guarded_by(mu))
#define LARDER_REQUIRES(...) LARDER_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define LARDER_EXCLUDES(...) LARDER_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define LARDER_ACQUIRE(...) LARDER_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define LARDER_RELEASE(...) LARDER_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define LARDER_ASSERT_CAPABILITY(x) LARDER_THREAD_ANNOTATION(assert_capability(x))

namespace larder {

class LARDER_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() LARDER_ACQUIRE() { mu_.lock(); }
  void Unlock() LARDER_RELEASE() { mu_.unlock(); }
  // For code that holds the lock in a way the analysis cannot follow (a lock taken in one
  // function and released in another, as a write session does): states that it is held.
  void AssertHeld() const LARDER_ASSERT_CAPABILITY(this) {}
  // BasicLockable spelling, for std::unique_lock (which the analysis does not follow).
  void lock() LARDER_ACQUIRE() { mu_.lock(); }
  void unlock() LARDER_RELEASE() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

// Holds `mu` for the enclosing scope.
class LARDER_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) LARDER_ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~MutexLock() LARDER_RELEASE() { mu_.Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

}  // namespace larder
