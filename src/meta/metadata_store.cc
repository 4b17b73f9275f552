#include "meta/metadata_store.h"
