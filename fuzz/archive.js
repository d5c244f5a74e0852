// Jazzer.js entry point for the archive parser (see targets.js).
const { targets } = require("./targets");
module.exports.fuzz = targets.archive;
