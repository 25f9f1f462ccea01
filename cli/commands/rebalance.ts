import { planned } from "../planned";
export default planned("rebalance", "Move replicas until every server's disk use is near the average", {
  threshold: { type: "string", description: "Allowed distance from the average, in percentage points", default: "10", valueHint: "PCT" },
  wait: { type: "boolean", description: "Wait until done" },
});
