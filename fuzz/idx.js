// Jazzer.js entry point for the idx parser (see targets.js).
const { targets } = require("./targets");
module.exports.fuzz = targets.idx;
