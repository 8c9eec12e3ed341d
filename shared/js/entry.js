// NocoBase's expression engines for Hookflow's embedded JavaScript runtime: math.js (with all of
// its functions) and formula.js, as the globals `mathjs` and `formulajs`. Bundled into
// engines.js by scripts/build-js-engines.sh.
import { create, all } from 'mathjs';
import * as formulajs from '@formulajs/formulajs';

globalThis.mathjs = create(all);
globalThis.formulajs = formulajs;
