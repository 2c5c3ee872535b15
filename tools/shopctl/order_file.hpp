// `shopctl bulk --from FILE`: orders as JSON lines, one object per line
//   {"plan_id": 905, "quantity": 1, "fields": {"tai_khoan": "a@b.c"}, "coupon_code": "GIAM10"}
// (quantity, fields and coupon_code optional; blank lines and lines starting with '#' are
// skipped). Every line is checked before anything is sent: a malformed one is reported with
// its line number.
#pragma once

#include <shop/models.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shopctl {

struct order_file {
    std::vector<shop::bulk_item> items;  ///< each with its input line as its reference
    std::vector<std::string> errors;  ///< "line N: why", in line order
};

/// Parses the text of an order file. At most `max_errors` errors are kept (the count of the
/// rest is the last one); at most `max_items` items are accepted.
inline order_file parse_order_file(std::string_view text, std::size_t max_items = 1'000'000, std::size_t max_errors = 20) {
    order_file out;
    std::size_t line_no = 0, more_errors = 0;
    auto error = [&](std::string why) {
        if (out.errors.size() < max_errors) out.errors.push_back("line " + std::to_string(line_no) + ": " + why);
        else ++more_errors;
    };
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        auto first = line.find_first_not_of(" \t");
        if (first == std::string_view::npos || line[first] == '#') continue;
        boost::system::error_code jec;
        auto v = boost::json::parse(line, jec);
        if (jec) {
            error("not JSON (" + jec.message() + ")");
            continue;
        }
        if (!v.is_object()) {
            error("not a JSON object");
            continue;
        }
        shop::bulk_item item;
        bool ok = true, has_plan = false;
        auto bad = [&](std::string why) {
            error(std::move(why));
            ok = false;
        };
        for (auto const& kv : v.as_object()) {
            auto const key = std::string_view(kv.key());
            auto const& val = kv.value();
            if (key == "plan_id") {
                has_plan = true;
                if (!val.is_int64() || val.as_int64() <= 0) bad("plan_id must be a positive integer");
                else item.plan_id = val.as_int64();
            } else if (key == "quantity") {
                if (!val.is_int64() || val.as_int64() < 1 || val.as_int64() > 1'000'000) bad("quantity must be an integer from 1 to 1000000");
                else item.quantity = val.as_int64();
            } else if (key == "fields") {
                if (!val.is_object()) {
                    bad("fields must be an object of strings");
                    continue;
                }
                for (auto const& f : val.as_object()) {
                    if (!f.value().is_string()) {
                        bad("field \"" + std::string(f.key()) + "\" must be a string");
                        break;
                    }
                    item.fields.emplace_back(std::string(f.key()), std::string(f.value().as_string()));
                }
            } else if (key == "coupon_code") {
                if (!val.is_string() && !val.is_null()) bad("coupon_code must be a string");
                else if (val.is_string()) item.coupon_code = std::string(val.as_string());
            } else {
                bad("unknown key \"" + std::string(key) + "\" (plan_id, quantity, fields, coupon_code)");
            }
            if (!ok) break;
        }
        if (ok && !has_plan) bad("plan_id is missing");
        if (!ok) continue;
        if (out.items.size() == max_items) {
            error("more than " + std::to_string(max_items) + " orders");
            break;
        }
        // The line travels as the item's reference: the report, resumed runs' too, names it.
        item.reference = std::to_string(line_no);
        out.items.push_back(std::move(item));
    }
    if (more_errors) out.errors.push_back("and " + std::to_string(more_errors) + " more malformed line(s)");
    if (out.items.empty() && out.errors.empty()) out.errors.push_back("no orders in the file");
    return out;
}

} // namespace shopctl
