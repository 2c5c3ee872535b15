// Bulk placement's logic, free of I/O: matching lost creates with orders found in the
// listing, the send queue with its twins, and the journal (its lines and replay, and the
// file's locking and failure rules).
#include <shop/detail/bulk/balance_ledger.hpp>
#include <shop/detail/bulk/bulk_journal.hpp>
#include <shop/detail/bulk/bulk_queue.hpp>
#include <shop/detail/bulk/create_verdict.hpp>
#include <shop/detail/bulk/journal_sync.hpp>
#include <shop/detail/bulk/reconcile.hpp>

#include <boost/asio/io_context.hpp>

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <thread>
#include <unistd.h>

using namespace std::chrono_literals;
using namespace shop::detail;

TEST_CASE("parse_server_time: server-local time to unix seconds") {
    // 2026-02-02 15:23:14 in UTC+7 is 08:23:14 UTC.
    CHECK(parse_server_time("2026-02-02 15:23:14", 7h) == 1770020594);
    CHECK(parse_server_time("2026-02-02 15:23:14", 0h) == 1770020594 + 7 * 3600);
    CHECK_FALSE(parse_server_time("2026-02-30 10:00:00", 7h));
    CHECK_FALSE(parse_server_time("yesterday", 7h));
    CHECK_FALSE(parse_server_time("2026-02-02T15:23", 7h));
}

TEST_CASE("match_lost_attempt: adopts the one unclaimed match, refuses to guess") {
    lost_attempt a;
    a.plan_id = 18;
    a.quantity = 1;
    a.fields = {{"email_dang_nhap", "u7@example.com"}};
    a.not_before = 1000;
    auto cand = [](std::int64_t id, std::string t, std::int64_t plan, std::int64_t created,
                   std::optional<shop::field_list> f) {
        order_candidate c;
        c.id = id;
        c.trans_id = std::move(t);
        c.plan_id = plan;
        c.quantity = 1;
        c.created = created;
        c.fields = std::move(f);
        return c;
    };
    std::vector<order_candidate> orders{
        cand(5, "OLD", 18, 900, shop::field_list{{"email_dang_nhap", "u7@example.com"}}), // before the attempt
        cand(6, "OTHER", 19, 1001, std::nullopt),                                         // other plan
        cand(7, "MINE", 18, 1002, std::nullopt),                                          // fields unknown
        cand(8, "TWIN", 18, 1003, shop::field_list{{"email_dang_nhap", "u8@example.com"}}),
    };
    auto v = match_lost_attempt(a, orders, {});
    REQUIRE(v.verdict == match_verdict::kind::need_fields);
    CHECK(v.need == std::vector<std::string>{"MINE"});
    orders[2].fields = shop::field_list{{"email_dang_nhap", "u7@example.com"}};
    v = match_lost_attempt(a, orders, {});
    REQUIRE(v.verdict == match_verdict::kind::adopt);
    CHECK(v.trans_id == "MINE");
    // Claimed by another item: not ours.
    CHECK(match_lost_attempt(a, orders, {"MINE"}).verdict == match_verdict::kind::none);
    // Two equal unclaimed orders: never guess.
    orders[3].fields = orders[2].fields;
    CHECK(match_lost_attempt(a, orders, {}).verdict == match_verdict::kind::ambiguous);
    // An attempt without fields still needs the candidates' fields: an order with fields
    // is another item's.
    lost_attempt bare = a;
    bare.fields.clear();
    auto listed = orders;
    listed[2].fields.reset();
    listed[3].fields.reset();
    v = match_lost_attempt(bare, listed, {});
    REQUIRE(v.verdict == match_verdict::kind::need_fields);
    CHECK(v.need == std::vector<std::string>{"MINE", "TWIN"});
    listed[3].fields = shop::field_list{};
    listed[2].fields = orders[2].fields;
    v = match_lost_attempt(bare, listed, {});
    REQUIRE(v.verdict == match_verdict::kind::adopt);
    CHECK(v.trans_id == "TWIN");
    // A known amount must agree exactly.
    a.expected_amount = shop::money::from_vnd(10);
    orders[2].final_amount = shop::money::from_vnd(10);
    orders[3].final_amount = shop::money::from_vnd(11);
    v = match_lost_attempt(a, orders, {});
    CHECK(v.verdict == match_verdict::kind::adopt);
    CHECK(v.trans_id == "MINE");
}

TEST_CASE("same_fields and twin_key ignore order, nothing else") {
    shop::field_list a{{"a", "1"}, {"b", "2"}}, b{{"b", "2"}, {"a", "1"}}, c{{"a", "1"}, {"b", "3"}};
    CHECK(same_fields(a, b));
    CHECK_FALSE(same_fields(a, c));
    CHECK(twin_key(1, 2, a) == twin_key(1, 2, b));
    CHECK(twin_key(1, 2, a) != twin_key(1, 2, c));
    CHECK(twin_key(1, 2, a) != twin_key(1, 3, a));
    CHECK(twin_key(1, 2, {{"a", "1\x1e" "b"}}) != twin_key(1, 2, {{"a", "1"}, {"b", ""}}));
}

// ---------------------------------------------------------------- bulk placement


TEST_CASE("bulk_queue: index order, twins held back while one is lost, pause and stop") {
    using clock = bulk_queue::clock;
    auto const t0 = clock::time_point{} + 1h;
    bulk_queue q({"a", "b", "a", "c", "a"});
    CHECK(q.next() == 0u);
    CHECK(q.next() == 1u);
    CHECK(q.in_flight() == 2);
    q.on_lost(0, t0);  // twins of 0 (2 and 4) wait now
    CHECK(q.next() == 3u);
    CHECK_FALSE(q.next());
    CHECK_FALSE(q.has_ready());
    CHECK(q.should_reconcile(t0, 10, 5s));  // nothing else can be sent
    q.on_done(1);
    q.on_done(3);
    q.resend(0);  // reconciliation: nothing was placed
    CHECK(q.lost_count() == 0);
    CHECK(q.next() == 0u);  // back in index order
    CHECK(q.next() == 2u);  // twins in flight together are fine
    q.on_lost(0, t0 + 1s);
    q.on_lost(2, t0 + 2s);
    CHECK(q.lost_items() == std::vector<std::size_t>{0, 2});
    CHECK(q.oldest_loss() == t0 + 1s);
    CHECK(q.loss_time(2) == t0 + 2s);
    CHECK_FALSE(q.next());  // 4 is their twin
    q.resolve(0);
    CHECK_FALSE(q.next());  // 2 is still lost
    q.resolve(2);
    q.pause();
    CHECK_FALSE(q.next());
    q.resume();
    CHECK(q.next() == 4u);
    q.requeue(4);  // refused before acting
    CHECK(q.waiting_count() == 1);
    q.stop();
    CHECK_FALSE(q.next());
    CHECK(q.finished());
    CHECK(q.unsent() == std::vector<std::size_t>{4});
}

TEST_CASE("bulk_queue: reconcile when the batch is full or the oldest loss has waited") {
    using clock = bulk_queue::clock;
    auto const t0 = clock::time_point{} + 1h;
    bulk_queue q({"a", "b", "c", "d"});
    CHECK_FALSE(q.should_reconcile(t0, 2, 5s));
    q.next();
    q.next();
    q.on_lost(0, t0);
    CHECK_FALSE(q.should_reconcile(t0 + 1s, 2, 5s));  // others can still be sent
    CHECK(q.should_reconcile(t0 + 5s, 2, 5s));         // waited long enough
    q.on_lost(1, t0 + 1s);
    CHECK(q.should_reconcile(t0 + 1s, 2, 5s));         // a full batch
    CHECK_FALSE(q.finished());
    q.settle(2);
    q.settle(3);
    q.resolve(0);
    q.resolve(1);
    CHECK(q.finished());
}

TEST_CASE("match_lost_group: interchangeable twins share the matching orders") {
    auto order = [](std::int64_t id, std::string trans, std::int64_t created) {
        order_candidate c;
        c.id = id;
        c.trans_id = std::move(trans);
        c.plan_id = 900;
        c.quantity = 1;
        c.final_amount = shop::money::from_vnd(10000);
        c.created = created;
        c.fields = shop::field_list{};
        return c;
    };
    lost_attempt a;
    a.plan_id = 900;
    a.quantity = 1;
    a.not_before = 1000;
    a.after_id = 10;
    auto b = a;
    b.after_id = 12;
    std::vector<order_candidate> orders{order(13, "T13", 1001), order(11, "T11", 1000), order(9, "OLD", 1000)};
    std::set<std::string> claimed;

    // Two attempts, two matches: the older order to the earlier attempt.
    auto v = match_lost_group({a, b}, orders, claimed);
    REQUIRE(v.size() == 2);
    CHECK(v[0].verdict == match_verdict::kind::adopt);
    CHECK(v[0].trans_id == "T11");
    CHECK(v[1].verdict == match_verdict::kind::adopt);
    CHECK(v[1].trans_id == "T13");

    // Three attempts, two matches: the third placed nothing.
    auto c = b;
    c.after_id = 13;
    v = match_lost_group({a, b, c}, orders, claimed);
    CHECK(v[2].verdict == match_verdict::kind::none);

    // One attempt, two matches: cannot tell.
    v = match_lost_group({a}, orders, claimed);
    CHECK(v[0].verdict == match_verdict::kind::ambiguous);

    // Claimed orders and orders older than every attempt do not count.
    claimed.insert("T11");
    v = match_lost_group({a}, orders, claimed);
    CHECK(v[0].verdict == match_verdict::kind::adopt);
    CHECK(v[0].trans_id == "T13");

    // An order only the earlier attempt could have placed, with the later attempt alone:
    // the pairing fails, so nothing is adopted.
    claimed = {"T13"};
    v = match_lost_group({b}, orders, claimed);
    CHECK(v[0].verdict == match_verdict::kind::none);

    // Fields unknown: fetch them first.
    lost_attempt f = a;
    f.fields = {{"tai_khoan", "x"}};
    orders[0].fields.reset();
    v = match_lost_group({f}, orders, {});
    CHECK(v[0].verdict == match_verdict::kind::need_fields);
    CHECK(v[0].need == std::vector<std::string>{"T13"});
    orders[0].fields = shop::field_list{{"tai_khoan", "x"}};
    v = match_lost_group({f}, orders, {});
    CHECK(v[0].verdict == match_verdict::kind::adopt);
    CHECK(v[0].trans_id == "T13");
}

TEST_CASE("check_listing_absence: no order that could be theirs, whatever time and amount say") {
    auto order = [](std::int64_t id, std::string trans, std::int64_t plan, std::optional<shop::field_list> fields) {
        order_candidate c;
        c.id = id;
        c.trans_id = std::move(trans);
        c.plan_id = plan;
        c.quantity = 1;
        c.final_amount = shop::money::from_vnd(10000);
        c.created = 1000;
        c.fields = std::move(fields);
        return c;
    };
    lost_attempt a;
    a.plan_id = 905;
    a.quantity = 1;
    a.fields = {{"tai_khoan", "mine"}};
    a.after_id = 10;
    a.not_before = 5000;                                   // later than every order's time
    a.expected_amount = shop::money::from_vnd(12345);      // unlike every order's amount
    // Another spender's orders: another plan, or this plan with other fields.
    std::vector<order_candidate> orders{order(14, "F14", 900, shop::field_list{}),
                                        order(13, "F13", 905, shop::field_list{{"tai_khoan", "theirs"}}),
                                        order(12, "F12", 905, std::nullopt)};
    std::set<std::string> claimed;

    // A candidate of the same plan whose fields the listing did not carry: read them first.
    auto v = check_listing_absence(a, orders, claimed);
    CHECK(v.verdict == listing_absence::kind::need_fields);
    CHECK(v.need == std::vector<std::string>{"F12"});
    orders[2].fields = shop::field_list{{"tai_khoan", "other"}};
    v = check_listing_absence(a, orders, claimed);
    CHECK(v.verdict == listing_absence::kind::proven);

    // An order with its fields, even one the time and amount bounds of matching would pass
    // over, means the listing proves nothing.
    orders.push_back(order(15, "T15", 905, shop::field_list{{"tai_khoan", "mine"}}));
    v = check_listing_absence(a, orders, claimed);
    CHECK(v.verdict == listing_absence::kind::lookalikes);
    CHECK(v.lookalikes == 1);
    CHECK(match_lost_attempt(a, orders, claimed).verdict == match_verdict::kind::none);
    // Unless it is claimed (this run's own, or adopted by another item), or older than the
    // attempt's floor.
    claimed.insert("T15");
    CHECK(check_listing_absence(a, orders, claimed).verdict == listing_absence::kind::proven);
    claimed.clear();
    a.after_id = 15;
    CHECK(check_listing_absence(a, orders, claimed).verdict == listing_absence::kind::proven);

    // Twins without fields: every unclaimed order of the plan without fields could be one.
    lost_attempt twin;
    twin.plan_id = 900;
    twin.quantity = 1;
    twin.after_id = 10;
    v = check_listing_absence(twin, orders, claimed);
    CHECK(v.verdict == listing_absence::kind::lookalikes);
    claimed.insert("F14");
    CHECK(check_listing_absence(twin, orders, claimed).verdict == listing_absence::kind::proven);
    // Another quantity is another item.
    claimed.clear();
    twin.quantity = 2;
    CHECK(check_listing_absence(twin, orders, claimed).verdict == listing_absence::kind::proven);
}

TEST_CASE("match_lost_batch: one read per run adopts a lost batch; one absent item proves it absent") {
    auto order = [](std::int64_t id, std::int64_t plan, std::optional<shop::field_list> fields = std::nullopt) {
        order_candidate c;
        c.id = id;
        c.trans_id = "T" + std::to_string(id);
        c.plan_id = plan;
        c.quantity = 1;
        c.final_amount = shop::money::from_vnd(10000);
        c.created = 1000;
        c.fields = std::move(fields);
        return c;
    };
    auto attempt = [](std::int64_t plan, std::string account) {
        lost_attempt a;
        a.plan_id = plan;
        a.quantity = 1;
        if (!account.empty()) a.fields = {{"tai_khoan", std::move(account)}};
        a.after_id = 10;
        a.not_before = 900;
        return a;
    };
    // A batch of three: plan 905 (fields "a"), plan 900 (no fields), plan 905 (fields "c").
    std::vector<lost_attempt> batch{attempt(905, "a"), attempt(900, ""), attempt(905, "c")};
    std::vector<bool> const apart(3, true);  // no item of the run looks like another
    std::set<std::string> claimed{"T12"};
    // The listing: our own claimed order 12, the batch's orders 13–15, a foreign 905 at 16,
    // another at 11; newest first and with a duplicate, as a shifting walk returns it.
    std::vector<order_candidate> listing{order(16, 905), order(15, 905), order(14, 900), order(13, 905),
                                         order(13, 905), order(12, 900), order(11, 905)};

    // One run fits the plans in order (13–15; 14–16 has 900 in the wrong place): its key
    // item's order (the first item with fields) is read, and only that one.
    auto v = match_lost_batch(batch, listing, claimed, apart);
    REQUIRE(v.verdict == batch_verdict::kind::need_fields);
    CHECK(v.need == std::vector<std::string>{"T13"});
    for (auto& o : listing)
        if (o.id == 13) o.fields = shop::field_list{{"tai_khoan", "a"}};
    v = match_lost_batch(batch, listing, claimed, apart);
    REQUIRE(v.verdict == batch_verdict::kind::adopt);
    CHECK(v.trans_ids == std::vector<std::string>{"T13", "T14", "T15"});

    // A field read elsewhere in the run that disagrees rules the run out.
    for (auto& o : listing)
        if (o.id == 15) o.fields = shop::field_list{{"tai_khoan", "someone else"}};
    v = match_lost_batch(batch, listing, claimed, apart);
    CHECK(v.verdict != batch_verdict::kind::adopt);

    // No run that agrees (13, 14, 16 have the shape, but 13 is someone else's): the item
    // needing the fewest reads shows it absent.
    std::vector<order_candidate> foreign{order(16, 905), order(14, 900), order(13, 905, shop::field_list{{"tai_khoan", "x"}})};
    v = match_lost_batch(batch, foreign, claimed, apart);
    REQUIRE(v.verdict == batch_verdict::kind::need_fields);
    CHECK(v.need == std::vector<std::string>{"T16"});  // items 0 and 1 need one read each: the first goes
    foreign[0].fields = shop::field_list{{"tai_khoan", "y"}};
    v = match_lost_batch(batch, foreign, claimed, apart);
    CHECK(v.verdict == batch_verdict::kind::absent);  // no 905 order carries "a"

    // Look-alikes for every item: undecided (the caller matches item by item, the balance decides).
    std::vector<order_candidate> alike{order(20, 905, shop::field_list{{"tai_khoan", "a"}}), order(21, 777),
                                       order(22, 900, shop::field_list{}),
                                       order(24, 905, shop::field_list{{"tai_khoan", "c"}})};
    v = match_lost_batch(batch, alike, claimed, apart);
    CHECK(v.verdict == batch_verdict::kind::undecided);
    CHECK_FALSE(v.why.empty());

    // Two runs agreeing on the key item: the other items' fields are read to tell them apart.
    std::vector<order_candidate> twice{order(31, 905, shop::field_list{{"tai_khoan", "a"}}), order(32, 900), order(33, 905),
                                       order(34, 905, shop::field_list{{"tai_khoan", "a"}}), order(35, 900), order(36, 905)};
    v = match_lost_batch(batch, twice, claimed, apart);
    REQUIRE(v.verdict == batch_verdict::kind::need_fields);
    CHECK(v.need == std::vector<std::string>{"T32", "T33", "T35", "T36"});
    for (auto& o : twice) {
        if (!o.fields) o.fields = shop::field_list{};
        if (o.id == 33) o.fields = shop::field_list{{"tai_khoan", "c"}};
    }
    v = match_lost_batch(batch, twice, claimed, apart);
    REQUIRE(v.verdict == batch_verdict::kind::adopt);
    CHECK(v.trans_ids == std::vector<std::string>{"T31", "T32", "T33"});
    // Claimed orders never belong to a run; orders at or below the floor neither.
    claimed.insert("T32");
    CHECK(match_lost_batch(batch, twice, claimed, apart).verdict != batch_verdict::kind::adopt);
}

TEST_CASE("told_apart: an item speaks for its batch only when no other item of the run could leave its order") {
    auto item = [](std::int64_t plan, shop::field_list fields, std::int64_t quantity = 1) {
        return lost_attempt{.plan_id = plan, .quantity = quantity, .fields = std::move(fields)};
    };
    std::vector<lost_attempt> items{
        item(905, {{"t", "a"}}),              // 0: twin of 1
        item(905, {{"t", "a"}}),              // 1
        item(905, {{"t", "b"}}),              // 2: its own
        item(900, {}),                        // 3: twin of 4
        item(900, {}),                        // 4
        item(905, {{"t", "c"}, {"x", "1"}}),  // 5: the shop may drop "x": then 5 and 6 look the same
        item(905, {{"t", "c"}}),              // 6
        item(905, {{"t", "a"}}, 2),           // 7: another quantity
        item(902, {}),                        // 8: the only one of its plan
        item(905, {{"x", "2"}, {"t", "d"}}),  // 9: keys in another order, still its own
    };
    CHECK(told_apart(items) == std::vector<bool>{false, false, true, false, false, false, false, true, true, true});
    CHECK(told_apart({}).empty());
}

TEST_CASE("match_lost_batch: twins in other batches never speak for a batch; a dropped field proves nothing") {
    auto order = [](std::int64_t id, std::optional<shop::field_list> fields = std::nullopt) {
        order_candidate c;
        c.id = id;
        c.trans_id = "T" + std::to_string(id);
        c.plan_id = 905;
        c.quantity = 1;
        c.final_amount = shop::money::from_vnd(10000);
        c.created = 1000;
        c.fields = std::move(fields);
        return c;
    };
    auto attempt = [](std::string account, std::string note = "") {
        lost_attempt a{.plan_id = 905, .quantity = 1, .fields = {{"tai_khoan", std::move(account)}}};
        if (!note.empty()) a.fields.push_back({"ghi_chu", std::move(note)});
        a.after_id = 10;
        a.not_before = 900;
        return a;
    };
    // Two lost batches share a twin ("a"): C = [a, b] placed nothing, D = [a, c] placed 21, 22.
    std::vector<lost_attempt> c_batch{attempt("a"), attempt("b")}, d_batch{attempt("a"), attempt("c")};
    auto apart = told_apart({c_batch[0], c_batch[1], d_batch[0], d_batch[1]});
    REQUIRE(apart == std::vector<bool>{false, true, false, true});
    std::vector<bool> c_apart{apart[0], apart[1]}, d_apart{apart[2], apart[3]};
    std::vector<order_candidate> listing{order(22, shop::field_list{{"tai_khoan", "c"}}), order(21)};
    std::set<std::string> claimed;
    // C is judged by "b", not by its twin "a": D's run is not C's, and no order carries "b".
    auto v = match_lost_batch(c_batch, listing, claimed, c_apart);
    REQUIRE(v.verdict == batch_verdict::kind::need_fields);  // 21 could carry "b"
    CHECK(v.need == std::vector<std::string>{"T21"});
    listing[1].fields = shop::field_list{{"tai_khoan", "a"}};
    CHECK(match_lost_batch(c_batch, listing, claimed, c_apart).verdict == batch_verdict::kind::absent);
    // D is judged by "c": its run is adopted whole.
    v = match_lost_batch(d_batch, listing, claimed, d_apart);
    REQUIRE(v.verdict == batch_verdict::kind::adopt);
    CHECK(v.trans_ids == std::vector<std::string>{"T21", "T22"});
    // With every item a twin, nothing speaks for the batch: item by item instead.
    v = match_lost_batch(c_batch, listing, claimed, {false, false});
    CHECK(v.verdict == batch_verdict::kind::undecided);
    CHECK_FALSE(v.why.empty());

    // The shop kept only "tai_khoan" of [a + note, e]: the order of the first item is not an
    // exact match, but it could be its own, so the listing proves nothing.
    std::vector<lost_attempt> noted{attempt("a", "gift"), attempt("e")};
    std::vector<order_candidate> kept{order(32, shop::field_list{{"tai_khoan", "e"}}),
                                      order(31, shop::field_list{{"tai_khoan", "a"}})};
    v = match_lost_batch(noted, kept, claimed, {true, true});
    CHECK(v.verdict != batch_verdict::kind::absent);
    CHECK(v.verdict != batch_verdict::kind::adopt);
    CHECK(check_listing_absence(noted[0], kept, claimed).verdict == listing_absence::kind::lookalikes);
    CHECK(check_listing_absence(attempt("a", "other"), kept, claimed).verdict == listing_absence::kind::lookalikes);
    CHECK(check_listing_absence(attempt("z", "gift"), kept, claimed).verdict == listing_absence::kind::proven);
}

TEST_CASE("answer_mismatch: an answer must give each item its order, in order") {
    shop::create_order_request sent;
    sent.items = {{.plan_id = 905, .quantity = 1}, {.plan_id = 900, .quantity = 2}};
    auto order = [](std::int64_t plan, std::int64_t quantity) {
        shop::created_order o;
        o.plan_id = plan;
        o.quantity = quantity;
        return o;
    };
    CHECK(answer_mismatch(sent, {order(905, 1), order(900, 2)}).empty());
    CHECK(answer_mismatch(sent, {order(905, 1)}) == "the answer lists 1 orders for 2 items");
    CHECK(answer_mismatch(sent, {order(900, 2), order(905, 1)}) == "the answer's order 1 is of plan 900 x 2, its item of plan 905 x 1");
    CHECK(answer_mismatch(sent, {order(905, 1), order(900, 1)}).find("order 2") != std::string::npos);
    CHECK_FALSE(answer_mismatch(sent, {}).empty());
}

TEST_CASE("classify_create_failure and split_refused_batch: refusals of some items split the batch") {
    using shop::errc;
    using shop::make_error_code;
    using shop::detail::classify_create_failure;
    using shop::detail::create_action;
    CHECK(classify_create_failure(make_error_code(errc::cart_error), 5) == create_action::split);
    CHECK(classify_create_failure(make_error_code(errc::cart_error), 1) == create_action::reject);
    CHECK(classify_create_failure(make_error_code(errc::out_of_stock), 2) == create_action::split);
    CHECK(classify_create_failure(make_error_code(errc::insufficient_balance), 5) == create_action::fatal);
    CHECK(classify_create_failure(make_error_code(errc::invalid_api_key), 5) == create_action::fatal);
    CHECK(classify_create_failure(make_error_code(errc::rate_limit_exceeded), 5) == create_action::retry_later);
    CHECK(classify_create_failure(make_error_code(errc::cancelled), 5) == create_action::requeue_and_stop);
    CHECK(classify_create_failure(make_error_code(errc::checkout_error), 5) == create_action::lost);
    CHECK(classify_create_failure(make_error_code(errc::outcome_unknown), 1) == create_action::lost);
    CHECK(classify_create_failure(make_error_code(errc::items_required), 3) == create_action::reject);

    using shop::detail::split_refused_batch;
    using parts = std::vector<std::vector<std::size_t>>;
    // The deployed server names a plan as "#id" (and "#12" is not "#123").
    CHECK(split_refused_batch({905, 123, 12, 905}, {}, "G\u00F3i \"#123\" kh\u00F4ng t\u1ED3n t\u1EA1i") == parts{{1}, {0, 2, 3}});
    // …or a product by name, known from earlier answers.
    CHECK(split_refused_batch({905, 900, 905}, {"Canva Pro", "Netflix", "Canva Pro"},
                              "S\u1EA3n ph\u1EA9m \"Canva Pro\" kh\u00F4ng \u0111\u1EE7 kho h\u00E0ng (c\u00F2n 0)") ==
          parts{{0, 2}, {1}});
    // Nothing that tells the items apart (or every item named): halves.
    CHECK(split_refused_batch({1, 2, 3, 4, 5}, {}, "something") == parts{{0, 1, 2}, {3, 4}});
    CHECK(split_refused_batch({7, 7}, {}, "#7") == parts{{0}, {1}});
    CHECK(split_refused_batch({7}, {}, "x") == parts{{0}});
}

TEST_CASE("balance_ledger: clean only when equal, exact and alone") {
    shop::detail::balance_ledger ledger;
    auto const t0 = shop::detail::balance_ledger::clock::now();
    ledger.rebase(shop::money::from_vnd(100000), t0);
    ledger.charge(shop::money::from_vnd(30000), true);
    CHECK(ledger.expected() == shop::money::from_vnd(70000));
    CHECK(ledger.judge(shop::money::from_vnd(70000), false).clean);
    CHECK_FALSE(ledger.judge(shop::money::from_vnd(70000), true).clean);   // another loss open
    auto moved = ledger.judge(shop::money::from_vnd(60000), false);
    CHECK_FALSE(moved.clean);
    CHECK(moved.why.find("60000.00") != std::string::npos);
    ledger.charge(shop::money::from_vnd(5000), false);                       // an adopted order, charge guessed
    CHECK_FALSE(ledger.judge(shop::money::from_vnd(65000), false).clean);
    ledger.rebase(shop::money::from_vnd(65000), t0 + std::chrono::seconds(1));
    CHECK(ledger.judge(shop::money::from_vnd(65000), false).clean);
    CHECK(ledger.baseline_at() == t0 + std::chrono::seconds(1));
}

TEST_CASE("bulk_queue: next_batch joins compatible ready items, skipping the held-back") {
    shop::detail::bulk_queue q({"a", "b", "a", "c", "d", "e"});
    auto even_with_first = [](std::size_t first, std::size_t i) { return first % 2 == i % 2; };
    CHECK(q.next_batch(2, even_with_first) == std::vector<std::size_t>{0, 2});
    q.on_lost(0, shop::detail::bulk_queue::clock::now());  // "a" held back from now on
    q.on_done(2);
    CHECK(q.next_batch(20, even_with_first) == std::vector<std::size_t>{1, 3, 5});
    q.pause();
    CHECK(q.next_batch(20, even_with_first).empty());
    q.resume();
    CHECK(q.next_batch(20, even_with_first) == std::vector<std::size_t>{4});
    CHECK(q.in_flight() == 4);
}

TEST_CASE("bulk journal: lines replay into each item's state") {
    journal_run run;
    run.after_id = 41;
    run.start_balance = shop::money::from_hundredths(123456789);
    run.server_offset = -3;
    run.items = 5;
    std::string text = journal_run_line(run) + "\n";
    for (std::size_t i = 0; i < 5; ++i) {
        shop::bulk_item item{.plan_id = 905, .quantity = 2, .fields = {{"tai_khoan", "a\"b\n" + std::to_string(i)}}};
        if (i == 4) item.coupon_code = "GIAM10";
        if (i == 3) item.reference = "customer \"7\"";
        text += journal_item_line(i, item) + "\n";
    }
    text += journal_attempt_line(0, 1, 1700000000, 41, 1700000000123) + "\n";
    text += journal_placed_line(0, "ABC", 42, shop::money::from_vnd(20000), shop::money::from_vnd(19000), false) + "\n";
    text += journal_attempt_line(1, 1, 1700000001, 42, 1700000001456) + "\n";  // crashed in flight
    text += journal_attempt_line(2, 1, 1700000002, 42, 1700000002000) + "\n";
    text += journal_attempt_line(2, 2, 1700000002, 42, 1700000002500) + "\n";
    text += journal_not_placed_line(2, 1) + "\n";  // the second was cancelled before it left
    text += journal_attempt_line(3, 1, 1700000003, 42, 1700000003000) + "\n";
    text += journal_rejected_line(3, shop::make_error_code(shop::errc::cart_error), "CART_ERROR", "h\u1EBFt") + "\n";
    text += journal_resume_line() + "\n";
    text += journal_unknown_line(1, "balance off") + "\n";
    text += journal_attempt_line(4, 1, 1700000004, 43, 1700000004000) + "\n";
    text += journal_not_placed_line(4, 1, "listing") + "\n";  // a loss the listing settled

    journal_replay r;
    std::string why;
    REQUIRE_FALSE(replay_journal(text, r, why));
    CHECK_FALSE(r.torn_tail);
    CHECK(r.whole_size == text.size());
    CHECK(r.run.after_id == 41);
    CHECK(r.run.start_balance == shop::money::from_hundredths(123456789));
    CHECK(r.run.server_offset == -3);
    REQUIRE(r.items.size() == 5);
    CHECK(r.items[3].fields.front().second == "a\"b\n3");
    CHECK(r.items[3].reference == "customer \"7\"");
    CHECK(r.items[2].reference.empty());
    CHECK(journal_item_line(2, r.items[2]).find("ref") == std::string::npos);  // no reference, no key
    CHECK(r.items[4].coupon_code == "GIAM10");
    CHECK(r.items[4].quantity == 2);
    using kind = journal_item_state::kind;
    CHECK(r.states[0].state == kind::placed);
    CHECK(r.states[0].trans_id == "ABC");
    CHECK(r.states[0].charged == shop::money::from_vnd(19000));
    CHECK(r.states[1].state == kind::lost);
    CHECK(r.states[1].not_before == 1700000001);
    CHECK(r.states[1].after_id == 42);
    CHECK(r.states[1].sent_ms == 1700000001456);
    CHECK(r.states[0].attempt_line < r.states[1].attempt_line);
    CHECK(r.states[1].attempt_line < r.states[3].attempt_line);
    CHECK(r.states[1].message == "balance off");
    CHECK(r.states[2].state == kind::not_placed);
    CHECK(r.states[2].attempts == 1);
    CHECK(r.states[3].state == kind::rejected);
    CHECK(r.states[3].ec == shop::errc::cart_error);
    CHECK(r.states[2].proof.empty());
    CHECK(r.states[4].state == kind::not_placed);
    CHECK(r.states[4].proof == "listing");
    CHECK(journal_not_placed_line(4, 1, "listing") == R"({"t":"not_placed","i":4,"n":1,"proof":"listing"})");
    CHECK(journal_not_placed_line(4, 1) == R"({"t":"not_placed","i":4,"n":1})");

    // A create of several items: one line, each item's attempt from it, the batch's size
    // and line shared (so a resume reconciles them as one unit).
    journal_replay b;
    std::string const batched = journal_run_line(run) + "\n" + text.substr(text.find('\n') + 1, text.find(R"({"t":"attempt")") - text.find('\n') - 1) +
                                journal_batch_line({1, 3, 4}, {2, 1, 1}, 1700000009, 50, 1700000009000) + "\n" +
                                journal_placed_line(3, "P3", 52, shop::money::from_vnd(1000), std::nullopt, false) + "\n";
    REQUIRE_FALSE(replay_journal(batched, b, why));
    CHECK(b.states[1].state == kind::lost);
    CHECK(b.states[1].attempts == 2);
    CHECK(b.states[4].attempts == 1);
    CHECK(b.states[4].after_id == 50);
    CHECK(b.states[4].not_before == 1700000009);
    CHECK(b.states[4].sent_ms == 1700000009000);
    CHECK(b.states[1].attempt_line == b.states[4].attempt_line);
    CHECK(b.states[1].batch_size == 3);
    CHECK(b.states[3].state == kind::placed);
    CHECK(b.states[0].state == kind::fresh);
    journal_replay out_of_range;
    CHECK(replay_journal(journal_run_line(run) + "\n" + journal_batch_line({1, 9}, {1, 1}, 0, 0, 0) + "\n", out_of_range, why) ==
          shop::errc::journal_failed);

    // A torn last line is ignored (and reported); a broken line elsewhere is an error.
    auto torn = text + R"({"t":"placed","i":1,"trans)";
    journal_replay t;
    REQUIRE_FALSE(replay_journal(torn, t, why));
    CHECK(t.torn_tail);
    CHECK(t.whole_size == text.size());
    CHECK(t.states[1].state == kind::lost);
    journal_replay bad;
    CHECK(replay_journal(R"({"t":"placed","i":1,"trans)" "\n" + text, bad, why) == shop::errc::journal_failed);
    CHECK(why.find("journal line 1") != std::string::npos);
    CHECK(replay_journal("", bad, why) == shop::errc::journal_failed);
    CHECK(replay_journal(journal_run_line(run) + "\n", bad, why) == shop::errc::journal_failed);  // items missing
    auto wrong = text + journal_not_placed_line(7, 1) + "\n";
    CHECK(replay_journal(wrong, bad, why) == shop::errc::journal_failed);
    CHECK(why.find("out of range") != std::string::npos);
    // A header claiming more items than the text could hold sizes nothing (seen while
    // writing the journal's fuzz target: it used to allocate what the line claimed).
    std::string const greedy = R"({"t":"run","version":1,"after_id":0,"start_balance":"0","server_offset":0,"items":100000000000000})";
    CHECK(replay_journal(greedy + "\n", bad, why) == shop::errc::journal_failed);
    CHECK(why == "journal line 1: item count out of range");
    CHECK(bad.items.empty());
}


TEST_CASE("journal_file: one run at a time; no line after a failed write") {
    auto path = std::filesystem::temp_directory_path() / ("shop-journal-lock-" + std::to_string(::getpid()) + ".jsonl");
    std::filesystem::remove(path);
    {
        journal_file first;
        REQUIRE_FALSE(first.open(path.string(), true, false));
        REQUIRE_FALSE(first.write_line(R"({"t":"resume"})", true));
        journal_file second;
        CHECK(second.open(path.string(), false, false) == shop::errc::journal_failed);
        CHECK(second.last_error().find("in use") != std::string::npos);
        journal_file again;
        CHECK(again.open(path.string(), true, false) == shop::errc::journal_failed);  // exists: never overwritten
    }
    journal_file missing;  // resuming a journal that is not there creates nothing
    auto nowhere = path.string() + ".missing";
    CHECK(missing.open(nowhere, false, false) == shop::errc::journal_failed);
    CHECK_FALSE(std::filesystem::exists(nowhere));
    journal_file later;  // the first run has ended: its lock is gone
    CHECK_FALSE(later.open(path.string(), false, false));
    later.close();
    std::string text, why;
    REQUIRE_FALSE(journal_file::read_all(path.string(), text, why));
    CHECK(text == "{\"t\":\"resume\"}\n");
    std::filesystem::remove(path);
    CHECK(journal_file::read_all(path.string(), text, why) == shop::errc::journal_failed);

    if (std::filesystem::exists("/dev/full")) {
        journal_file full;
        REQUIRE_FALSE(full.open("/dev/full", false, false));
        CHECK(full.write_line(std::string(70000, 'x')) == shop::errc::journal_failed);  // ENOSPC on flush
        CHECK(full.write_line("{}") == shop::errc::journal_failed);
        CHECK(full.last_error().find("broken") != std::string::npos);
    }
}

TEST_CASE("journal_sync: the disk wait on its own thread, the completion on the caller's executor") {
    boost::asio::io_context io;
    shop::detail::journal_sync syncer;
    auto const path = std::filesystem::temp_directory_path() / ("shop-journal-sync-" + std::to_string(::getpid()));
    std::FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f);
    std::fputs("line\n", f);
    std::fflush(f);
    std::string why;
    int calls = 0;
    std::thread::id ran_on;
    shop::error_code got = shop::make_error_code(shop::errc::timeout);
    syncer.async_sync(::fileno(f), io.get_executor(), &why, [&](shop::error_code ec) {
        got = ec;
        ran_on = std::this_thread::get_id();
        ++calls;
    });
    // The pending sync keeps io.run() from returning early.
    io.run();
    CHECK(calls == 1);
    CHECK_FALSE(got);
    CHECK(ran_on == std::this_thread::get_id());
    // A descriptor that cannot be synced: journal_failed, and why.
    io.restart();
    syncer.async_sync(-1, io.get_executor(), &why, [&](shop::error_code ec) {
        got = ec;
        ++calls;
    });
    io.run();
    CHECK(calls == 2);
    CHECK(got == shop::errc::journal_failed);
    CHECK(why.find("fsync failed") != std::string::npos);
    std::fclose(f);
    std::filesystem::remove(path);
}

TEST_CASE("resume_item: what a resumed run does with each item the journal knows") {
    using how = resumed_item::kind;
    journal_item_state js;
    CHECK(resume_item(js, 0).how == how::send);
    js.state = journal_item_state::kind::placed;
    CHECK(resume_item(js, 0).how == how::placed);
    js.state = journal_item_state::kind::rejected;
    CHECK(resume_item(js, 0).how == how::rejected);
    js.state = journal_item_state::kind::not_placed;
    js.proof = "listing";
    auto unplaced = resume_item(js, 0);
    CHECK(unplaced.how == how::send_unplaced);
    CHECK(unplaced.evidence.find("proof: listing") != std::string::npos);
    // An attempt without outcome: lost since its send, with its batch.
    js = journal_item_state{};
    js.state = journal_item_state::kind::lost;
    js.sent_ms = 1'000'000;
    js.attempt_line = 17;
    js.batch_size = 20;
    auto lost = resume_item(js, 1'004'500);
    CHECK(lost.how == how::lost);
    CHECK(lost.since_send == std::chrono::milliseconds(4500));
    CHECK(lost.batch_seq == 17);
    CHECK(lost.batch_size == 20);
    CHECK(lost.message == "an earlier run sent it and recorded no outcome");
    // One left unknown says why; a clock gone backwards is no negative age.
    js.message = "balance off";
    lost = resume_item(js, 500);
    CHECK(lost.evidence == "earlier run: balance off");
    CHECK(lost.since_send == std::chrono::milliseconds(0));
    // An old journal's attempt line (before batches): one item.
    js.batch_size = 0;
    CHECK(resume_item(js, 0).batch_size == 1);
}
