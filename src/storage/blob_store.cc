#include "storage/blob_store.h"
