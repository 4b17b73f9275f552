#include "kms/key_service.h"

namespace berth::kms {

std::string_view KeyStateName(KeyState s) {
  switch (s) {
    case KeyState::kEnabled:
      return "Enabled";
    case KeyState::kDisabled:
      return "Disabled";
    case KeyState::kPendingDeletion:
      return "PendingDeletion";
  }
  return "Unknown";
}

}  // namespace berth::kms
