/* agentrt: a small, fast, durable agent runtime.  One header per primitive under
 * agentrt/; this umbrella includes them all. */
#ifndef AGENTRT_H
#define AGENTRT_H

#include "agentrt/common.h"
#include "agentrt/context.h"
#include "agentrt/decision.h"
#include "agentrt/mcp.h"
#include "agentrt/eval.h"
#include "agentrt/model.h"
#include "agentrt/policy.h"
#include "agentrt/run.h"
#include "agentrt/schema.h"
#include "agentrt/spec.h"
#include "agentrt/tool.h"
#include "agentrt/trace.h"

#endif
