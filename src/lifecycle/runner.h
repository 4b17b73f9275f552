// Runner: applies lifecycle policies to a live registry. Reads a repository's images, asks the
// pure evaluator (policy.h) what to do, and does it through registry::Registry: expires
// images (with their referrers) and moves images to the archive storage class. Every image
// acted on is reported to a sink (the server writes it to the audit log with the rule that
// took it). Previews evaluate without acting and keep their result in the metadata store, so
// any node can answer GetLifecyclePolicyPreview.
//
// Thread-safe; borrows the registry.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "base/clock.h"
#include "base/error.h"
#include "lifecycle/policy.h"
#include "registry/registry.h"

namespace berth::lifecycle {

template <class T>
using Task = boost::asio::awaitable<Result<T>>;

// One image a rule acts on (or would, in a dry run or preview).
struct AppliedAction {
  std::string repository;
  std::string digest;
  std::vector<std::string> tags;
  int64_t pushed_at = 0;
  ActionType type = ActionType::kExpire;
  StorageClass target = StorageClass::kArchive;
  StorageClass storage_class = StorageClass::kStandard;  // before the action
  int64_t rule_priority = 0;
  bool referrer = false;
};

struct RepositoryRun {
  std::string repository;
  bool has_policy = false;
  std::vector<AppliedAction> actions;
};

struct Preview {
  std::string status;  // IN_PROGRESS | COMPLETE | FAILED
  std::string policy_text;
  std::string message;  // FAILED: why
  int64_t started_at = 0;
  std::vector<AppliedAction> results;
};

using ActionSink = std::function<void(const AppliedAction&)>;
using Progress = std::function<void(uint64_t done, uint64_t total)>;

class Runner {
 public:
  Runner(registry::Registry& registry, const Clock& clock, ActionSink sink)
      : registry_(registry), clock_(clock), sink_(std::move(sink)) {}

  // What `policy_text` would do to the repository now (no changes). kNameUnknown;
  // kInvalidArgument if the text is not a valid policy.
  Task<RepositoryRun> Evaluate(std::string repo, std::string policy_text);
  // Applies the repository's own policy (or only evaluates it when dry_run). A repository
  // without a policy yields an empty run.
  Task<RepositoryRun> Run(std::string repo, bool dry_run);
  // Runs every repository that has a policy.
  Task<std::vector<RepositoryRun>> RunAll(bool dry_run, Progress progress);

  // Starts a preview of `policy_text` (empty: the repository's policy) and completes it in the
  // background. kNameUnknown; kNotFound (no text and no policy); kPreconditionFailed (a preview
  // of this repository is still in progress); kInvalidArgument (invalid text).
  Task<Preview> StartPreview(std::string repo, std::string policy_text);
  // The latest preview of a repository. kNotFound if none.
  Task<Preview> GetPreview(std::string repo);

 private:
  boost::asio::awaitable<void> CompletePreview(std::string repo, Preview preview);
  Task<Ok> StorePreview(const std::string& repo, const Preview& p);

  registry::Registry& registry_;
  const Clock& clock_;
  ActionSink sink_;
};

}  // namespace berth::lifecycle
