// Jazzer.js entry point for the cifar parser (see targets.js).
const { targets } = require("./targets");
module.exports.fuzz = targets.cifar;
