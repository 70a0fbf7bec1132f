// logs page: built on core.js
import { boot } from './core.js';

void boot;
