// Jazzer.js entry point for the image parser (see targets.js).
const { targets } = require("./targets");
module.exports.fuzz = targets.image;
