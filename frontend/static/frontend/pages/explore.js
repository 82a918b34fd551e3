// Explore: popular recent photos of public accounts I do not follow, then older ones.
import { pagedGrid } from "../grid.js";
import { gateway } from "../socket.js";
import { $ } from "../util.js";

export async function init() {
  await gateway.ready();
  await pagedGrid({ grid: $("#explore-grid"), sentinel: $("#explore-sentinel"), empty: $("#explore-empty"), url: "/api/explore" });
}
