//! The Rocket.Chat settings rocketload reads and, with
//! `--configure-target`, changes: the switches of its rate limiters (RC
//! `apps/meteor/server/settings/rate.ts`, all `true` by default). Both the
//! client and the reference server name them from here.

/// Switches the REST limiter (every `/api/v1` route, per route and IP).
pub const REST_LIMITER: &str = "API_Enable_Rate_Limiter";

/// Switch the DDP limiter's default rules, by what each counts per
/// (ROCKETCHAT.md §1.11). Rules a method registers itself (`sendMessage`
/// 5/s per user) and Meteor's `login` rule have no switch.
pub const DDP_LIMITERS: [&str; 5] = [
    "DDP_Rate_Limit_IP_Enabled",
    "DDP_Rate_Limit_User_Enabled",
    "DDP_Rate_Limit_Connection_Enabled",
    "DDP_Rate_Limit_User_By_Method_Enabled",
    "DDP_Rate_Limit_Connection_By_Method_Enabled",
];

/// Every limiter switch: the REST one, then the DDP ones.
pub fn limiter_switches() -> impl Iterator<Item = &'static str> {
    std::iter::once(REST_LIMITER).chain(DDP_LIMITERS)
}
