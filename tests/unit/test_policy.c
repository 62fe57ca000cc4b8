/* The policy gate: rule matching, first match wins, defaults, approvals. */
#include <string.h>

#include "agentrt.h"
#include "testutil.h"

static art_policy *policy(const char *text) {
  json_t *json = text ? json_loads(text, 0, NULL) : NULL;
  art_policy *p;
  art_error err = {0};
  if (art_policy_parse(&p, json, "p.json", "$.policy", NULL, &err) < 0) fail_msg("%s", err.message);
  json_decref(json);
  return p;
}

static art_policy_query tool_query(const char *tool, art_side_effect se) {
  return (art_policy_query){.action = ART_GATE_TOOL,
                            .actor = "ann",
                            .tenant = "acme",
                            .route = "support",
                            .tool = tool,
                            .side_effect = se,
                            .sensitivity = ART_SENS_INTERNAL,
                            .remaining_steps = 10};
}

static art_verdict eval(const art_policy *p, const art_policy_query *q) {
  art_verdict v;
  art_policy_eval(p, q, &v);
  return v;
}

static void default_policy(void **state) {
  (void)state;
  art_policy *p = policy(NULL);
  art_policy_query q = tool_query("lookup", ART_SIDE_READ);
  assert_int_equal(eval(p, &q).effect, ART_EFFECT_ALLOW);
  q.side_effect = ART_SIDE_DRAFT;
  assert_int_equal(eval(p, &q).effect, ART_EFFECT_ALLOW);
  q.side_effect = ART_SIDE_WRITE;
  art_verdict v = eval(p, &q);
  assert_int_equal(v.effect, ART_EFFECT_APPROVAL);
  assert_int_equal(v.rule, -1);
  assert_string_equal(v.reason, "default: write requires approval");
  q.action = ART_GATE_ANSWER;
  assert_int_equal(eval(p, &q).effect, ART_EFFECT_ALLOW);
  q.action = ART_GATE_RETRIEVE;
  assert_int_equal(eval(p, &q).effect, ART_EFFECT_ALLOW);
  assert_false(art_policy_preapproved(p, "act_x"));
  art_policy_free(p);
}

static void first_match_wins_and_falls_back_to_default(void **state) {
  (void)state;
  art_policy *p =
      policy("{\"rules\":["
             "{\"when\":{\"tool\":\"send_*\",\"input\":{\"to\":\"vip@example.com\"}},\"effect\":"
             "\"deny\",\"reason\":\"vip\"},"
             "{\"when\":{\"tool\":\"send_*\"},\"effect\":\"allow\",\"reason\":\"sends ok\"},"
             "{\"when\":{\"side_effect\":[\"draft\",\"write\"]},\"effect\":\"deny\",\"reason\":"
             "\"no writes\"}]}");
  art_policy_query q = tool_query("send_message", ART_SIDE_WRITE);
  json_t *vip = json_pack("{s:s}", "to", "vip@example.com"), *other = json_pack("{s:s}", "to", "x");
  q.input = vip;
  art_verdict v = eval(p, &q);
  assert_int_equal(v.effect, ART_EFFECT_DENY);
  assert_int_equal(v.rule, 0);
  q.input = other;
  v = eval(p, &q);
  assert_int_equal(v.effect, ART_EFFECT_ALLOW);
  assert_int_equal(v.rule, 1);
  assert_string_equal(v.reason, "sends ok");
  q = tool_query("delete_row", ART_SIDE_WRITE);
  assert_int_equal(eval(p, &q).rule, 2);
  q = tool_query("lookup", ART_SIDE_READ);
  v = eval(p, &q);
  assert_int_equal(v.rule, -1);
  assert_int_equal(v.effect, ART_EFFECT_ALLOW);
  assert_int_equal(art_policy_rule_count(p), 3);
  json_decref(vip), json_decref(other);
  art_policy_free(p);
}

static void every_when_key_must_match(void **state) {
  (void)state;
  art_policy *p =
      policy("{\"rules\":[{\"when\":{\"actor\":\"ann\",\"tenant\":\"acme\",\"route\":\"legal\","
             "\"sensitivity\":[\"confidential\",\"restricted\"],\"remaining_steps_lt\":3},"
             "\"effect\":\"deny\",\"reason\":\"r\"}]}");
  art_policy_query q = tool_query("t", ART_SIDE_READ);
  q.route = "legal";
  q.sensitivity = ART_SENS_CONFIDENTIAL;
  q.remaining_steps = 2;
  assert_int_equal(eval(p, &q).rule, 0);
  art_policy_query miss = q;
  miss.actor = "bob";
  assert_int_equal(eval(p, &miss).rule, -1);
  miss = q, miss.tenant = NULL;
  assert_int_equal(eval(p, &miss).rule, -1);
  miss = q, miss.route = "support";
  assert_int_equal(eval(p, &miss).rule, -1);
  miss = q, miss.sensitivity = ART_SENS_INTERNAL;
  assert_int_equal(eval(p, &miss).rule, -1);
  miss = q, miss.remaining_steps = 3;
  assert_int_equal(eval(p, &miss).rule, -1);
  miss = q, miss.action = ART_GATE_ANSWER; /* rules are for tools unless they say otherwise */
  assert_int_equal(eval(p, &miss).rule, -1);
  art_policy_free(p);
}

static void retrieve_and_answer_rules(void **state) {
  (void)state;
  art_policy *p = policy("{\"rules\":["
                         "{\"when\":{\"action\":\"retrieve\",\"scope\":\"user\"},\"effect\":"
                         "\"deny\",\"reason\":\"no user memory\"},"
                         "{\"when\":{\"action\":\"answer\",\"evidence\":false},\"effect\":"
                         "\"approval_required\",\"reason\":\"check\"}]}");
  art_policy_query q = {.action = ART_GATE_RETRIEVE, .scope = ART_SCOPE_USER};
  assert_int_equal(eval(p, &q).effect, ART_EFFECT_DENY);
  q.scope = ART_SCOPE_TASK;
  assert_int_equal(eval(p, &q).rule, -1);
  q = (art_policy_query){.action = ART_GATE_ANSWER, .has_evidence = false};
  assert_int_equal(eval(p, &q).effect, ART_EFFECT_APPROVAL);
  q.has_evidence = true;
  assert_int_equal(eval(p, &q).effect, ART_EFFECT_ALLOW);
  assert_false(art_policy_retrieval_varies_by_step(p));
  art_policy_free(p);
  p = policy("{\"rules\":[{\"when\":{\"action\":\"retrieve\",\"remaining_steps_lt\":2},\"effect\":"
             "\"deny\"}]}");
  assert_true(art_policy_retrieval_varies_by_step(p));
  art_policy_free(p);
}

static void preapproved_ids(void **state) {
  (void)state;
  art_policy *p = policy("{\"approved_action_ids\":[\"act_1\",\"act_2\"]}");
  assert_true(art_policy_preapproved(p, "act_2"));
  assert_false(art_policy_preapproved(p, "act_3"));
  art_policy_free(p);
}

static void bad_policies_name_the_path(void **state) {
  (void)state;
  struct {
    const char *text, *path, *what;
  } cases[] = {
      {"[]", "$.policy", "expected an object"},
      {"{\"rule\":[]}", "$.policy", "unknown key \"rule\""},
      {"{\"rules\":{}}", "$.policy.rules", "expected an array"},
      {"{\"rules\":[{\"effect\":\"maybe\"}]}", "$.policy.rules[0].effect",
       "allow, deny, approval_required"},
      {"{\"rules\":[{\"when\":{}}]}", "$.policy.rules[0]", "missing required key \"effect\""},
      {"{\"rules\":[{\"when\":{\"tool\":1},\"effect\":\"deny\"}]}", "$.policy.rules[0].when.tool",
       "expected a string"},
      {"{\"rules\":[{\"when\":{\"side_effect\":[\"read\",\"erase\"]},\"effect\":\"deny\"}]}",
       "$.policy.rules[0].when.side_effect[1]", "read, draft, write"},
      {"{\"rules\":[{\"when\":{\"remaining_steps_lt\":-1},\"effect\":\"deny\"}]}",
       "$.policy.rules[0].when.remaining_steps_lt", "between"},
      {"{\"approved_action_ids\":[1]}", "$.policy.approved_action_ids[0]", "expected a string"},
      /* keys for another action would be ignored and widen the rule */
      {"{\"rules\":[{\"when\":{\"scope\":\"user\"},\"effect\":\"allow\"}]}",
       "$.policy.rules[0].when.scope", "only applies to \"action\": \"retrieve\""},
      {"{\"rules\":[{\"when\":{\"evidence\":false},\"effect\":\"deny\"}]}",
       "$.policy.rules[0].when.evidence", "only applies to \"action\": \"answer\""},
      {"{\"rules\":[{\"when\":{\"action\":\"answer\",\"tool\":\"x\"},\"effect\":\"deny\"}]}",
       "$.policy.rules[0].when.tool", "only applies to \"action\": \"tool\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    json_t *json = json_loads(cases[i].text, 0, NULL);
    art_policy *p = NULL;
    art_error err = {0};
    assert_int_equal(art_policy_parse(&p, json, "p.json", "$.policy", NULL, &err), ART_ESPEC);
    if (!strstr(err.message, cases[i].path) || !strstr(err.message, cases[i].what) ||
        strncmp(err.message, "p.json: ", 8) != 0)
      fail_msg("case %zu: message \"%s\"", i, err.message);
    json_decref(json);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(default_policy),
      cmocka_unit_test(first_match_wins_and_falls_back_to_default),
      cmocka_unit_test(every_when_key_must_match),
      cmocka_unit_test(retrieve_and_answer_rules),
      cmocka_unit_test(preapproved_ids),
      cmocka_unit_test(bad_policies_name_the_path),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
