//! The one place that writes a `dingtalk-reconcile` configuration pointing at a simulator: the
//! `sim` command prints it, the demo writes it beside its store, and the product's integration
//! tests build their config files on it.
//!
//! Only the `[dingtalk]` table: where the simulator listens, the credentials it accepts, its 补卡
//! templates and an OA admin. Everything else (scope, store, schedule…) is the caller's.

use crate::world::World;

/// The `[dingtalk]` table pointing both API families at a simulator serving `world` at `base_url`
/// (`http://127.0.0.1:PORT`): `oapi_base_url`, `api_base_url`, `app_key`, `app_secret`,
/// `supply_process_codes` and `admin_user_id`, one per line.
///
/// The text ends inside the table, so a caller may add keys of its own (`qps_per_api = 1000`)
/// before opening the next table.
pub fn config_snippet(base_url: &str, world: &World) -> String {
    let codes: Vec<String> = world
        .supply_process_codes()
        .iter()
        .map(|code| format!("{code:?}"))
        .collect();
    format!(
        "[dingtalk]\noapi_base_url = {base_url:?}\napi_base_url = {base_url:?}\n\
         app_key = {:?}\napp_secret = {:?}\nsupply_process_codes = [{}]\nadmin_user_id = {:?}\n",
        world.config.app_key,
        world.config.app_secret,
        codes.join(", "),
        world.employees[world.admin].id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SimConfig, generate};

    #[test]
    fn the_snippet_points_both_families_at_the_simulator_and_takes_more_keys() {
        let world = generate(&SimConfig::new(1, 10));
        let mut text = config_snippet("http://127.0.0.1:4567", &world);
        text.push_str("qps_per_api = 1000\n");
        let parsed: toml::Value = toml::from_str(&text).expect("the snippet is TOML");
        let dingtalk = &parsed["dingtalk"];
        assert_eq!(
            dingtalk["oapi_base_url"].as_str(),
            Some("http://127.0.0.1:4567")
        );
        assert_eq!(
            dingtalk["api_base_url"].as_str(),
            Some("http://127.0.0.1:4567")
        );
        assert_eq!(dingtalk["app_key"].as_str(), Some("sim-app-key"));
        assert_eq!(dingtalk["app_secret"].as_str(), Some("sim-app-secret"));
        assert_eq!(
            dingtalk["supply_process_codes"].as_array().map(Vec::len),
            Some(2)
        );
        assert_eq!(
            dingtalk["admin_user_id"].as_str(),
            Some(world.employees[world.admin].id.as_str())
        );
        assert_eq!(dingtalk["qps_per_api"].as_integer(), Some(1000));
    }
}
