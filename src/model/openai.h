/* The openai model: decisions from an OpenAI-compatible chat-completions
 * server (OpenAI, vLLM, llama.cpp, Ollama, LM Studio, LiteLLM, ...).
 *
 * One decision is one request (openai_request.h) and its reply
 * (openai_response.h).  Connection errors, timeouts, 429 and 5xx are retried
 * up to max_retries times, waiting as Retry-After says or else with
 * exponential backoff and jitter; any other status, or a 2xx body that is not
 * a chat completion, fails at once.  A reply that is no usable decision gets
 * one repair round telling the model what was wrong; what the second reply
 * says goes to the run as it is (which rejects it if it is still wrong).
 * Every request is reported (art_model_calls).  The API key, read from the
 * environment variable `api_key_env` when the model is made, is sent as a
 * Bearer token and masked in anything the server sends back.
 *
 * Blocking (decide) or on an event loop (start/cancel, model vtable 4: each
 * request over the loop's shared curl multi, http_multi.h, each retry's
 * pause on the job's timer), a decision takes the same steps and reports the
 * same calls. */
#ifndef ART_OPENAI_H
#define ART_OPENAI_H

#include "agentrt/model.h"

int art_openai_model_new(art_model **out, const art_spec *spec, art_error *err);

#endif
