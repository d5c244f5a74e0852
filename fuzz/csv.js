// Jazzer.js entry point for the csv parser (see targets.js).
const { targets } = require("./targets");
module.exports.fuzz = targets.csv;
