#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "agentrt/run.h"

void art_run_id_generate(char out[ART_RUN_ID_SIZE]) {
  snprintf(out, ART_RUN_ID_SIZE, "run_%08" PRIx32 "%08" PRIx32, arc4random(), arc4random());
}
