// RunBlocking: run a blocking function (SQLite, fsync, rename, unlink, hashing stored files)
// on a bounded thread pool and resume the awaiting coroutine on its own executor.
//
// The io threads never block on disk or database work; every such call in berth goes through
// here. The callable is moved to the pool; its result is moved back. Thread-safe.
#pragma once

#include <type_traits>
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace berth {

template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> RunBlocking(boost::asio::thread_pool& pool, F fn) {
  namespace asio = boost::asio;
  using R = std::invoke_result_t<F&>;
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(R)>(
      [&pool](auto handler, F f) {
        auto work = asio::make_work_guard(asio::get_associated_executor(handler));
        asio::post(pool, [f = std::move(f), handler = std::move(handler),
                          work = std::move(work)]() mutable {
          R r = f();
          auto ex = work.get_executor();
          asio::post(ex, [r = std::move(r), handler = std::move(handler)]() mutable {
            std::move(handler)(std::move(r));
          });
        });
      },
      asio::use_awaitable, std::move(fn));
}

}  // namespace berth
