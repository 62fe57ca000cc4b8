/* The scripted model: replays the spec's decisions in order, each `repeat`
 * times.  Deterministic; the default for the demo, tests and evals.  Running out
 * of decisions is a model failure ("script_exhausted"). */
#ifndef ART_SCRIPTED_H
#define ART_SCRIPTED_H

#include "agentrt/model.h"

int art_scripted_model_new(art_model **out, const art_spec *spec, art_error *err);

#endif
