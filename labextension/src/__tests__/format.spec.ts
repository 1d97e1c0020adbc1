import * as fmt from '../format';
import { DEFAULT_NOTIFY, wanted } from '../notices';
import { contentsPath, endsWithPath, sameNotebook, tailCandidates } from '../paths';
import { NoticeMessage } from '../protocol';

describe('format', () => {
  const now = 1_000_000 * 1000;
  it('says how long ago', () => {
    expect(fmt.ago(1_000_000 - 10, now)).toBe('just now');
    expect(fmt.ago(1_000_000 - 120, now)).toBe('2 min ago');
    expect(fmt.ago(1_000_000 - 3 * 3600, now)).toBe('3 h ago');
    expect(fmt.ago(1_000_000 - 26 * 3600, now)).toBe('yesterday');
    expect(fmt.ago(1_000_000 - 5 * 86400, now)).toBe('5 days ago');
    expect(fmt.ago(0, now)).toBe('');
  });

  it('formats cost and tokens', () => {
    expect(fmt.cost(0)).toBe('$0');
    expect(fmt.cost(0.004)).toBe('<$0.01');
    expect(fmt.cost(1.234)).toBe('$1.23');
    expect(fmt.tokens(999)).toBe('999 tok');
    expect(fmt.tokens(1234)).toBe('1.2k tok');
    expect(fmt.tokens(45678)).toBe('46k tok');
    expect(fmt.tokens(2_500_000)).toBe('2.5M tok');
  });

  it('shortens titles and pretty-prints arguments', () => {
    expect(fmt.shorten('a  b\nc', 10)).toBe('a b c');
    expect(fmt.shorten('abcdefghijkl', 5)).toBe('abcd…');
    expect(fmt.prettyArguments('{"a":1}')).toBe('{\n  "a": 1\n}');
    expect(fmt.prettyArguments('{"cut off')).toBe('{"cut off');
  });
});

describe('notebook paths', () => {
  it('maps the recorded OS path to a contents path', () => {
    expect(contentsPath('/srv/root/sub/a.ipynb', '/srv/root')).toBe('sub/a.ipynb');
    expect(contentsPath('/srv/root/a.ipynb', '/srv/root/')).toBe('a.ipynb');
    expect(contentsPath('C:\\Users\\me\\nb.ipynb', 'C:\\Users\\me')).toBe('nb.ipynb');
    expect(contentsPath('sub/a.ipynb', '/srv/root')).toBe('sub/a.ipynb');
    expect(contentsPath('/elsewhere/a.ipynb', '/srv/root')).toBeNull();
    expect(contentsPath('/srv/rootx/a.ipynb', '/srv/root')).toBeNull();
    expect(contentsPath('dir:/srv/root', '/srv/root')).toBeNull();
    expect(contentsPath('', '/srv/root')).toBeNull();
    expect(contentsPath('/home/me/proj/sub/a.ipynb', '~/proj')).toBe('sub/a.ipynb');
    expect(contentsPath('/home/me/other/a.ipynb', '~/proj')).toBeNull();
    expect(contentsPath('/home/me/a.ipynb', '~')).toBeNull();
    expect(endsWithPath('/home/me/sub/a.ipynb', 'sub/a.ipynb')).toBe(true);
    expect(endsWithPath('/home/me/xsub/a.ipynb', 'sub/a.ipynb')).toBe(false);
    expect(tailCandidates('/home/me/sub/a.ipynb')).toEqual(['me/sub/a.ipynb', 'sub/a.ipynb', 'a.ipynb']);
    expect(sameNotebook('/srv/root/a.ipynb', 'a.ipynb', '/srv/root')).toBe(true);
    expect(sameNotebook('/srv/root/a.ipynb', 'b.ipynb', '/srv/root')).toBe(false);
  });
});

describe('notifications wanted', () => {
  const notice = (kind: NoticeMessage['kind'], duration_s: number | null = null): NoticeMessage => ({
    v: 1,
    type: 'notice',
    seq: 1,
    kind,
    session_id: 's',
    notice_id: 'n',
    message: '',
    duration_s
  });
  it('notifies long turns only, and each kind can be turned off', () => {
    expect(wanted(notice('approval'), DEFAULT_NOTIFY)).toBe(true);
    expect(wanted(notice('error'), DEFAULT_NOTIFY)).toBe(true);
    expect(wanted(notice('turn_done', 12), DEFAULT_NOTIFY)).toBe(false);
    expect(wanted(notice('turn_done', 31), DEFAULT_NOTIFY)).toBe(true);
    expect(wanted(notice('turn_done', null), DEFAULT_NOTIFY)).toBe(false);
    const off = { approval: false, error: false, turnDone: false, longTurnSeconds: 30 };
    expect(wanted(notice('approval'), off)).toBe(false);
    expect(wanted(notice('error'), off)).toBe(false);
    expect(wanted(notice('turn_done', 99), off)).toBe(false);
  });
});

describe('status bar text', () => {
  it('names working and waiting sessions and today’s cost', () => {
    expect(fmt.summaryText({ working: 0, waiting: 0, costToday: 0 })).toBe(
      'ML Intern: 0 working · $0 today'
    );
    expect(fmt.summaryText({ working: 2, waiting: 1, costToday: 0.42 })).toBe(
      'ML Intern: 2 working · 1 waiting for you · $0.42 today'
    );
  });
});
