// The balance as a witness, without I/O: a baseline read with nothing lost or in flight,
// minus everything the run is known to have been charged since. When the balance read later
// equals it (and every charge was known to the hundredth, and no other loss is open), nothing
// unknown was paid: a lost create placed nothing. Anything else that spends from or pays into
// the account moves it, and then it proves nothing.
#pragma once

#include <shop/money.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace shop::detail {

class balance_ledger {
public:
    using clock = std::chrono::steady_clock;

    /// A fresh baseline: `balance` read with nothing lost or in flight.
    void rebase(money balance, clock::time_point at) {
        baseline_ = balance;
        charged_ = money{};
        exact_ = true;
        at_ = at;
    }
    /// Only the time of the baseline moves (a failed read: try again one interval later).
    void touch(clock::time_point at) { at_ = at; }

    /// The run was charged `amount` (exact: to the hundredth, as the server charged it).
    void charge(money amount, bool exact) {
        charged_ += amount;
        if (!exact) exact_ = false;
    }

    money baseline() const noexcept { return baseline_; }
    money expected() const noexcept { return baseline_ - charged_; }
    bool exact() const noexcept { return exact_; }
    clock::time_point baseline_at() const noexcept { return at_; }

    struct verdict {
        bool clean = false; ///< nothing unknown was paid since the baseline
        std::string why;    ///< when not clean
    };
    /// The balance read now, while `others_open` lost items are still unresolved.
    verdict judge(money now_balance, bool others_open) const {
        verdict v;
        if (now_balance != expected())
            v.why = "the balance is " + now_balance.to_fixed2() + " where " + expected().to_fixed2() + " was expected";
        else if (others_open)
            v.why = "the balance proves nothing while other lost items are unresolved";
        else if (!exact_)
            v.why = "an adopted order's charge is not known exactly, so the balance proves nothing";
        else
            v.clean = true;
        return v;
    }

private:
    money baseline_;
    money charged_;
    bool exact_ = true;
    clock::time_point at_ = clock::now();
};

} // namespace shop::detail
